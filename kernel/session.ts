// The kernel session (messaging spec 5.x): a handler table keyed by request type (requests.ts checks
// each request's content before its handler sees it), busy/idle around every request,
// the execution counter, the shell queue (one request at a time; control served at once), stop_on_error
// aborting only requests already queued, stdin round trips, history and comms.
import { randomUUID } from "node:crypto";
import { Comms } from "./comms.js";
import type { CellRunner } from "./executor.js";
import { History } from "./history.js";
import type { IncomingFrames, KernelTransport } from "./transport.js";
import { checkContent, isRequestType, type CommContent, type ExecuteRequest, type ReplyContent, type RequestContent, type RequestType } from "./requests.js";
import { childOf, decode, encode, iopubTopic, replyType, type Channel, type JupyterMessage, type Signer } from "./wire.js";

/** What the session needs from its composition root. */
export interface SessionOptions {
  transport: KernelTransport;
  signer: Signer;
  runner: CellRunner;
  /** kernel_info_reply content without `status`. */
  kernelInfo: () => Record<string, unknown>;
  /** Called after shutdown_reply and the final idle have been queued. */
  onShutdown: (restart: boolean) => void | Promise<void>;
  /** Kernel diagnostics (dropped messages); never goes to a cell. */
  log?: (line: string) => void;
}

type Message = JupyterMessage<Record<string, unknown>>;

/** One kernel session. */
export class Session {
  /** The kernel's session id, in every header it sends. */
  readonly id = randomUUID();
  readonly history = new History();
  readonly comms = new Comms();
  private executionCount = 0;
  private readonly queue: Message[] = [];
  private pumping = false;
  private controlChain: Promise<void> = Promise.resolve();
  private pendingInput: { resolve: (value: string) => void; reject: (error: Error) => void } | undefined;
  private readonly log: (line: string) => void;
  private shutdown: { restart: boolean } | undefined;

  constructor(private readonly options: SessionOptions) {
    this.log = options.log ?? (() => undefined);
  }

  /** Publishes `starting` once and begins serving. */
  start(): void {
    this.publish(undefined, "status", { execution_state: "starting" });
    this.options.transport.onFrames((incoming) => this.receive(incoming));
  }

  /** The current execution count. */
  get count(): number {
    return this.executionCount;
  }

  private receive({ channel, frames }: IncomingFrames): void {
    const decoded = decode(frames, this.options.signer);
    if (!decoded.ok) {
      this.log(`qlora-lab kernel: dropped a message on ${channel}: ${decoded.reason}${decoded.detail ? ` (${decoded.detail})` : ""}`);
      return;
    }
    const message = decoded.message;
    if (channel === "stdin") return this.receiveInput(message);
    if (channel === "control") {
      this.controlChain = this.controlChain.then(() => this.withStatus(message, () => this.handle("control", message))).then(() => this.afterRequest()).catch((error: Error) => this.log(`qlora-lab kernel: control handler failed: ${error.stack}`));
      return;
    }
    this.queue.push(message);
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let message = this.queue.shift(); message; message = this.queue.shift()) {
        const m = message;
        await this.withStatus(m, () => this.handle("shell", m)).catch((error: Error) => this.log(`qlora-lab kernel: shell handler failed: ${error.stack}`));
        await this.afterRequest();
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Shuts down once the shutdown_reply and its idle status are queued. */
  private async afterRequest(): Promise<void> {
    if (!this.shutdown) return;
    const { restart } = this.shutdown;
    this.shutdown = undefined;
    await this.options.onShutdown(restart);
  }

  private async withStatus(message: Message, fn: () => Promise<void>): Promise<void> {
    this.publish(message, "status", { execution_state: "busy" });
    try {
      await fn();
    } finally {
      this.publish(message, "status", { execution_state: "idle" });
    }
  }

  private async handle(channel: "shell" | "control", message: Message): Promise<void> {
    const type = message.header.msg_type;
    const reply = (content: unknown) => this.send(channel, childOf(message, replyType(type), content, { session: this.id }));
    if (!isRequestType(type)) {
      this.log(`qlora-lab kernel: no handler for ${type} on ${channel}`);
      // A request this kernel does not know still gets an answer, so that no client waits for ever.
      if (type.endsWith("_request")) reply({ status: "error", ename: "UnknownRequest", evalue: `qlora-lab's kernel does not answer ${type}`, traceback: [] });
      return;
    }
    const checked = checkContent(type, message.content);
    if (!checked.ok) {
      this.log(`qlora-lab kernel: refused ${type}: ${checked.problem}`);
      // An execute_reply carries the execution count, even when nothing ran.
      const count = type === "execute_request" ? { execution_count: this.executionCount } : {};
      if (type.startsWith("comm_")) return;
      return reply({ status: "error", ...count, ename: "BadRequest", evalue: checked.problem, traceback: [] });
    }
    const handler = this.handlers[type] as (content: unknown, message: Message) => Promise<unknown>;
    const content = await handler(checked.content, message);
    if (content !== undefined) reply(content);
  }

  /** One handler per request type; each gets checked content and returns its reply's content. */
  private readonly handlers: { [T in RequestType]: (content: RequestContent[T], message: Message) => Promise<ReplyContent[T]> } = {
    kernel_info_request: async () => ({ status: "ok", ...this.options.kernelInfo() }),
    shutdown_request: async ({ restart = false }) => {
      this.shutdown = { restart };
      return { status: "ok", restart };
    },
    interrupt_request: async () => {
      this.options.runner.interrupt();
      this.pendingInput?.reject(Object.assign(new Error("Execution interrupted"), { name: "KeyboardInterrupt" }));
      return { status: "ok" };
    },
    execute_request: (content, message) => this.execute(content, message),
    inspect_request: async ({ code, cursor_pos, detail_level = 0 }) => {
      const result = await this.options.runner.inspect(code, codePointsToUtf16(code, cursor_pos), detail_level).catch(() => ({ found: false, data: {} }));
      return { status: "ok", found: result.found, data: result.data, metadata: {} };
    },
    complete_request: async ({ code, cursor_pos }) => {
      const cursor = codePointsToUtf16(code, cursor_pos ?? [...code].length);
      const result = await this.options.runner.complete(code, cursor).catch(() => ({ matches: [], start: cursor, end: cursor, types: [] }));
      const cp = (i: number) => utf16ToCodePoints(code, i);
      return {
        status: "ok",
        matches: result.matches,
        cursor_start: cp(result.start),
        cursor_end: cp(result.end),
        metadata: { _jupyter_types_experimental: result.types.map((t) => ({ ...t, start: cp(t.start), end: cp(t.end) })) },
      };
    },
    is_complete_request: async ({ code }) => {
      const result = await this.options.runner.isComplete(code).catch(() => ({ status: "unknown" as const, indent: undefined }));
      return result.status === "incomplete" ? { status: "incomplete", indent: result.indent ?? "" } : { status: result.status };
    },
    history_request: async (query) => ({ status: "ok", history: this.history.query(query) }),
    comm_info_request: async ({ target_name }) => ({ status: "ok", comms: this.comms.info(target_name) }),
    comm_open: async (content, message) => this.comm("comm_open", content, message),
    comm_msg: async (content, message) => this.comm("comm_msg", content, message),
    comm_close: async (content, message) => this.comm("comm_close", content, message),
  };

  private async execute(c: ExecuteRequest, message: Message): Promise<ReplyContent["execute_request"]> {
    const code = c.code;
    const silent = c.silent ?? false;
    const storeHistory = !silent && (c.store_history ?? true);
    if (storeHistory) this.executionCount++;
    const count = this.executionCount;
    if (!silent) this.publish(message, "execute_input", { code, execution_count: count });
    const publish = silent ? () => undefined : (msgType: string, content: Record<string, unknown>) => this.publish(message, msgType, content);
    const input = c.allow_stdin ? (prompt: string, password: boolean) => this.requestInput(message, prompt, password) : undefined;
    const outcome = await this.options.runner.execute(code, { executionCount: count, silent, publish, input });
    let output: string | null = null;
    let reply: ReplyContent["execute_request"];
    if (outcome.status === "ok") {
      if (outcome.result && !silent) {
        publish("execute_result", { execution_count: count, data: outcome.result.data, metadata: outcome.result.metadata ?? {} });
        output = typeof outcome.result.data["text/plain"] === "string" ? outcome.result.data["text/plain"] : null;
      }
      const expressions: Record<string, unknown> = {};
      for (const [key, expression] of Object.entries(c.user_expressions ?? {})) expressions[key] = await this.options.runner.evaluate(expression);
      reply = { status: "ok", execution_count: count, payload: outcome.payload as unknown as Record<string, unknown>[], user_expressions: expressions };
    } else {
      const { ename, evalue, traceback } = outcome;
      if (!silent) publish("error", { ename, evalue, traceback });
      reply = { status: "error", execution_count: count, ename, evalue, traceback };
    }
    if (storeHistory) this.history.add({ line: count, input: code, output });
    if (outcome.status === "error" && (c.stop_on_error ?? true)) this.abortQueued();
    return reply;
  }

  /** After a failed cell, execute requests already received are answered without running (ipykernel's rule). */
  private abortQueued(): void {
    for (const incoming of this.options.transport.takePending()) this.receive(incoming);
    const aborted = this.queue.filter((m) => m.header.msg_type === "execute_request");
    const kept = this.queue.filter((m) => m.header.msg_type !== "execute_request");
    this.queue.splice(0, this.queue.length, ...kept);
    for (const message of aborted) {
      this.publish(message, "status", { execution_state: "busy" });
      // Spec 5.1+: "aborted" is deprecated in favour of an error reply (jupyter_kernel_test rejects "aborted").
      const reason = { ename: "ExecutionAborted", evalue: "An earlier cell failed and stop_on_error was set; this request was not run.", traceback: [] };
      this.send("shell", childOf(message, "execute_reply", { status: "error", execution_count: this.executionCount, ...reason }, { session: this.id }));
      this.publish(message, "status", { execution_state: "idle" });
    }
  }

  private requestInput(parent: Message, prompt: string, password: boolean): Promise<string> {
    this.pendingInput?.reject(new Error("input: a newer input request replaced this one."));
    return new Promise<string>((resolve, reject) => {
      this.pendingInput = { resolve, reject };
      this.send("stdin", childOf(parent, "input_request", { prompt, password }, { session: this.id }));
    }).finally(() => {
      this.pendingInput = undefined;
    });
  }

  private receiveInput(message: Message): void {
    if (message.header.msg_type !== "input_reply") return this.log(`qlora-lab kernel: unexpected ${message.header.msg_type} on stdin`);
    this.pendingInput?.resolve(String(message.content.value ?? ""));
  }

  private comm(type: "comm_open" | "comm_msg" | "comm_close", content: CommContent, message: Message): void {
    const { comm_id: commId, data = {} } = content;
    const sender = {
      send: (d: Record<string, unknown>) => this.publish(message, "comm_msg", { comm_id: commId, data: d }),
      close: (d: Record<string, unknown> = {}) => this.publish(message, "comm_close", { comm_id: commId, data: d }),
    };
    if (type === "comm_open") {
      if (!this.comms.opened(commId, content.target_name ?? "", data, sender)) sender.close({});
    } else if (type === "comm_msg") {
      if (!this.comms.message(commId, data)) this.log(`qlora-lab kernel: comm_msg for unknown comm ${commId}`);
    } else this.comms.closed(commId, data);
  }

  /** Sends an IOPub message as a child of `parent` (none for `starting`). */
  private publish(parent: Message | undefined, msgType: string, content: Record<string, unknown>): void {
    this.send("iopub", childOf(parent, msgType, content, { session: this.id, identities: [iopubTopic(msgType)] }));
  }

  private send(channel: Channel, message: JupyterMessage<unknown>): void {
    this.options.transport.send(channel, encode(message, this.options.signer));
  }
}

/** A cursor in Unicode code points (the protocol's unit since 5.2) as a UTF-16 index. */
export function codePointsToUtf16(text: string, codePoints: number): number {
  let index = 0;
  for (let n = 0; n < codePoints && index < text.length; n++) index += text.codePointAt(index)! > 0xffff ? 2 : 1;
  return index;
}

/** A UTF-16 index as a count of Unicode code points. */
export function utf16ToCodePoints(text: string, index: number): number {
  return [...text.slice(0, index)].length;
}
