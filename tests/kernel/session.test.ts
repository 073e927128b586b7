// The session against a fake transport and a fake cell runner: status order, counters, stop_on_error,
// silent, history, comms, stdin, code-point cursors, shutdown.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Session, codePointsToUtf16, utf16ToCodePoints } from "../../kernel/session.js";
import type { CellIO, CellRunner, ExecuteOutcome } from "../../kernel/executor.js";
import type { IncomingFrames, KernelTransport } from "../../kernel/transport.js";
import { decode, encode, newHeader, Signer, type Channel, type JupyterMessage } from "../../kernel/wire.js";

const signer = new Signer("test-key");

class FakeTransport implements KernelTransport {
  handler?: (incoming: IncomingFrames) => void;
  pending: IncomingFrames[] = [];
  sent: { channel: Channel; message: JupyterMessage }[] = [];
  onFrames(h: (incoming: IncomingFrames) => void) {
    this.handler = h;
  }
  send(channel: Channel, frames: Buffer[]) {
    const d = decode(frames, signer);
    assert.ok(d.ok, "the session must send validly signed frames");
    this.sent.push({ channel, message: d.message });
  }
  takePending() {
    return this.pending.splice(0);
  }
  async close() {}
  deliver(channel: IncomingFrames["channel"], msgType: string, content: Record<string, unknown>): string {
    const header = newHeader(msgType, "client", "tester");
    this.handler!({ channel, frames: encode({ identities: [Buffer.from("id")], header, parent_header: {}, metadata: {}, content, buffers: [] }, signer) });
    return header.msg_id;
  }
  of(parentId: string) {
    return this.sent.filter((s) => s.message.parent_header.msg_id === parentId);
  }
}

class FakeRunner implements CellRunner {
  calls: { code: string; io: CellIO }[] = [];
  interrupted = 0;
  gate?: Promise<void>;
  async execute(code: string, io: CellIO): Promise<ExecuteOutcome> {
    this.calls.push({ code, io });
    await this.gate;
    io.publish("stream", { name: "stdout", text: `ran ${code}\n` });
    if (code.startsWith("fail")) return { status: "error", ename: "Error", evalue: "boom", traceback: ["Error: boom"] };
    if (code.startsWith("ask")) return { status: "ok", result: { data: { "text/plain": await io.input!("name?", false) } }, payload: [] };
    return { status: "ok", result: { data: { "text/plain": code.toUpperCase() } }, payload: [] };
  }
  async evaluate(expression: string) {
    return { status: "ok" as const, data: { "text/plain": `=${expression}` }, metadata: {} };
  }
  async inspect() {
    return { found: true, data: { "text/plain": "doc" } };
  }
  async complete(code: string, position: number) {
    return { matches: ["élan"], start: position - 1, end: position, types: [] };
  }
  async isComplete(code: string) {
    return code.endsWith("{") ? { status: "incomplete" as const, indent: "  " } : { status: "complete" as const };
  }
  interrupt() {
    this.interrupted++;
  }
  languageVersion() {
    return "5.0";
  }
}

function setup() {
  const transport = new FakeTransport();
  const runner = new FakeRunner();
  let shutdown: boolean | undefined;
  const session = new Session({ transport, signer, runner, kernelInfo: () => ({ protocol_version: "5.4" }), onShutdown: (restart) => void (shutdown = restart) });
  session.start();
  return { transport, runner, session, shutdown: () => shutdown };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

test("starting once, then busy -> execute_input -> outputs -> execute_result -> reply -> idle", async () => {
  const { transport } = setup();
  assert.equal(transport.sent[0]!.message.content.execution_state, "starting");
  const id = transport.deliver("shell", "execute_request", { code: "abc" });
  await settle();
  const seen = transport.of(id).map((s) => `${s.channel}:${s.message.header.msg_type}${s.message.header.msg_type === "status" ? `:${s.message.content.execution_state}` : ""}`);
  assert.deepEqual(seen, ["iopub:status:busy", "iopub:execute_input", "iopub:stream", "iopub:execute_result", "shell:execute_reply", "iopub:status:idle"]);
  const reply = transport.of(id).find((s) => s.channel === "shell")!.message;
  assert.deepEqual(reply.content, { status: "ok", execution_count: 1, payload: [], user_expressions: {} });
  assert.deepEqual(reply.identities.map(String), ["id"]);
});

test("silent runs publish nothing and do not count; store_history=false does not count", async () => {
  const { transport, session, runner } = setup();
  const silent = transport.deliver("shell", "execute_request", { code: "x", silent: true });
  const unstored = transport.deliver("shell", "execute_request", { code: "y", store_history: false });
  await settle();
  assert.deepEqual(transport.of(silent).filter((s) => s.channel === "iopub").map((s) => s.message.header.msg_type), ["status", "status"]);
  assert.equal(runner.calls[0]!.io.silent, true);
  assert.equal(transport.of(unstored).find((s) => s.channel === "shell")!.message.content.execution_count, 0);
  assert.equal(session.count, 0);
});

test("stop_on_error aborts requests already queued, and only those", async () => {
  const { transport, runner } = setup();
  let open!: () => void;
  runner.gate = new Promise((r) => (open = r));
  const failing = transport.deliver("shell", "execute_request", { code: "fail" });
  const queued = transport.deliver("shell", "execute_request", { code: "queued" });
  const info = transport.deliver("shell", "kernel_info_request", {});
  open();
  await settle();
  const later = transport.deliver("shell", "execute_request", { code: "later" });
  await settle();
  assert.deepEqual(runner.calls.map((c) => c.code), ["fail", "later"]);
  const abortedReply = transport.of(queued).find((s) => s.channel === "shell")!.message.content;
  assert.equal(abortedReply.status, "error");
  assert.equal(abortedReply.ename, "ExecutionAborted");
  assert.equal(transport.of(info).find((s) => s.channel === "shell")!.message.content.status, "ok");
  assert.equal(transport.of(later).find((s) => s.channel === "shell")!.message.content.status, "ok");
  const errors = transport.of(failing).filter((s) => s.message.header.msg_type === "error");
  assert.equal(errors.length, 1, "exactly one error message");
});

test("stop_on_error=false keeps queued requests", async () => {
  const { transport, runner } = setup();
  let open!: () => void;
  runner.gate = new Promise((r) => (open = r));
  transport.deliver("shell", "execute_request", { code: "fail", stop_on_error: false });
  transport.deliver("shell", "execute_request", { code: "next" });
  open();
  await settle();
  assert.deepEqual(runner.calls.map((c) => c.code), ["fail", "next"]);
});

test("user_expressions, history tail/range/search, is_complete indent", async () => {
  const { transport } = setup();
  const id = transport.deliver("shell", "execute_request", { code: "a1", user_expressions: { v: "1+1" } });
  transport.deliver("shell", "execute_request", { code: "a2" });
  transport.deliver("shell", "execute_request", { code: "b1" });
  await settle();
  assert.deepEqual(transport.of(id).find((s) => s.channel === "shell")!.message.content.user_expressions, { v: { status: "ok", data: { "text/plain": "=1+1" }, metadata: {} } });
  const hist = (content: Record<string, unknown>) => {
    const hid = transport.deliver("shell", "history_request", content);
    return settle().then(() => transport.of(hid).find((s) => s.channel === "shell")!.message.content.history);
  };
  assert.deepEqual(await hist({ hist_access_type: "tail", n: 2, output: false }), [[1, 2, "a2"], [1, 3, "b1"]]);
  assert.deepEqual(await hist({ hist_access_type: "tail", n: 1, output: true }), [[1, 3, ["b1", "B1"]]]);
  assert.deepEqual(await hist({ hist_access_type: "range", session: 1, start: 2, stop: 3 }), [[1, 2, "a2"]]);
  assert.deepEqual(await hist({ hist_access_type: "search", pattern: "a?" }), [[1, 1, "a1"], [1, 2, "a2"]]);
  assert.deepEqual(await hist({ hist_access_type: "search", pattern: "a*", n: 1 }), [[1, 2, "a2"]]);
  const ic = transport.deliver("shell", "is_complete_request", { code: "f() {" });
  await settle();
  assert.deepEqual(transport.of(ic).find((s) => s.channel === "shell")!.message.content, { status: "incomplete", indent: "  " });
});

test("comm_open for an unknown target is answered with comm_close; comm_info lists open comms", async () => {
  const { transport, session } = setup();
  const id = transport.deliver("shell", "comm_open", { comm_id: "c1", target_name: "nobody", data: {} });
  await settle();
  const close = transport.of(id).find((s) => s.message.header.msg_type === "comm_close")!;
  assert.equal(close.channel, "iopub");
  assert.equal(close.message.content.comm_id, "c1");
  session.comms.registerTarget("echo", (comm) => ({ onMessage: (data) => comm.send(data) }));
  transport.deliver("shell", "comm_open", { comm_id: "c2", target_name: "echo", data: {} });
  const msg = transport.deliver("shell", "comm_msg", { comm_id: "c2", data: { x: 1 } });
  const info = transport.deliver("shell", "comm_info_request", {});
  await settle();
  assert.ok(transport.of(msg).length >= 2, "comm_msg gets busy/idle");
  assert.deepEqual(transport.sent.find((s) => s.channel === "iopub" && s.message.header.msg_type === "comm_msg")!.message.content, { comm_id: "c2", data: { x: 1 } });
  assert.deepEqual(transport.of(info).find((s) => s.channel === "shell")!.message.content, { status: "ok", comms: { c2: { target_name: "echo" } } });
});

test("input_request goes out on stdin with the shell identity and input_reply resumes the cell", async () => {
  const { transport } = setup();
  const id = transport.deliver("shell", "execute_request", { code: "ask", allow_stdin: true });
  await settle();
  const request = transport.sent.find((s) => s.channel === "stdin")!;
  assert.deepEqual(request.message.content, { prompt: "name?", password: false });
  assert.deepEqual(request.message.identities.map(String), ["id"]);
  transport.deliver("stdin", "input_reply", { value: "Ada" });
  await settle();
  assert.deepEqual(transport.of(id).find((s) => s.message.header.msg_type === "execute_result")!.message.content.data, { "text/plain": "Ada" });
});

test("control: interrupt replies and interrupts; kernel_info answers; shutdown replies then shuts down", async () => {
  const { transport, runner, shutdown } = setup();
  const i = transport.deliver("control", "interrupt_request", {});
  const k = transport.deliver("control", "kernel_info_request", {});
  await settle();
  assert.equal(runner.interrupted, 1);
  assert.equal(transport.of(i).find((s) => s.channel === "control")!.message.content.status, "ok");
  assert.equal(transport.of(k).find((s) => s.channel === "control")!.message.content.protocol_version, "5.4");
  const s = transport.deliver("control", "shutdown_request", { restart: false });
  await settle();
  assert.deepEqual(transport.of(s).find((x) => x.channel === "control")!.message.content, { status: "ok", restart: false });
  assert.equal(transport.of(s).at(-1)!.message.content.execution_state, "idle");
  assert.equal(shutdown(), false);
});

test("bad signatures are dropped without a reply", async () => {
  const { transport } = setup();
  const before = transport.sent.length;
  const frames = encode({ identities: [], header: newHeader("kernel_info_request", "c"), parent_header: {}, metadata: {}, content: {}, buffers: [] }, new Signer("other-key"));
  transport.handler!({ channel: "shell", frames });
  await settle();
  assert.equal(transport.sent.length, before);
});

test("cursor positions convert between code points and UTF-16", () => {
  const text = "a😀b";
  assert.equal(codePointsToUtf16(text, 2), 3);
  assert.equal(utf16ToCodePoints(text, 3), 2);
  assert.equal(codePointsToUtf16(text, 3), 4);
});
