// End to end with a real zeromq client (the zeromq package, no Python): the kernel as a child process,
// malformed and badly signed messages, interrupts of an infinite loop (message and SIGINT, before and
// after an await, in a stray timer), stray async errors, a huge output, stdin, leftover async output
// (after the forced stops too), cell line numbers, and shutdown.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { KernelClient } from "../../client/kernel_client.js";
import { DELIMITER, encode, newHeader, Signer } from "../../kernel/wire.js";
import { content, ofType, resultText } from "../kernel/kernel_results.js";

let client: KernelClient;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  client = await KernelClient.launch({ stderr: "pipe" });
  const info = await client.waitReady(120_000);
  assert.equal((info.content as { status: string }).status, "ok");
  // The first cell waits for the compiler and the library's types.
  const first = await client.execute("6 * 7");
  assert.equal(ofType(first, "execute_result")[0]!.data && (ofType(first, "execute_result")[0]!.data as Record<string, string>)["text/plain"], "42");
});

after(async () => {
  await client?.shutdown();
});

test("a malformed message and a badly signed one are dropped; the kernel keeps serving", async () => {
  await client.sendRaw("shell", ["garbage", "frames"]);
  await client.sendRaw("shell", [DELIMITER, "sig", "{not json", "{}", "{}", "{}"]);
  const forged = encode({ identities: [], header: newHeader("execute_request", "attacker"), parent_header: {}, metadata: {}, content: { code: "globalThis.pwned = 1" }, buffers: [] }, new Signer("wrong-key"));
  await client.sendRaw("shell", forged);
  const result = await client.execute("typeof (globalThis as any).pwned");
  assert.equal((ofType(result, "execute_result")[0]!.data as Record<string, string>)["text/plain"], "'undefined'");
});

test("interrupt_request stops an infinite synchronous loop and keeps variables", async () => {
  await client.execute("let counter = 0;");
  const running = client.execute("while (true) { counter++; }");
  await new Promise((r) => setTimeout(r, 1500));
  const reply = await client.request("control", "interrupt_request", {});
  assert.equal(content(reply).status, "ok");
  const result = await running;
  assert.equal(content(result).status, "error");
  assert.equal(content(result).ename, "KeyboardInterrupt");
  const after = await client.execute("counter > 0");
  assert.equal((ofType(after, "execute_result")[0]!.data as Record<string, string>)["text/plain"], "true");
});

test("SIGINT stops a loop between awaited steps (a training loop) and keeps variables", async () => {
  await client.execute("let step = 0;");
  const running = client.execute("while (true) { step++; await new Promise((r) => setTimeout(r, 5)); }");
  await new Promise((r) => setTimeout(r, 1000));
  client.child!.kill("SIGINT");
  const result = await running;
  assert.equal(content(result).ename, "KeyboardInterrupt");
  const stepAfter = await client.execute("step");
  const value = Number((ofType(stepAfter, "execute_result")[0]!.data as Record<string, string>)["text/plain"]);
  assert.ok(value > 0);
  await new Promise((r) => setTimeout(r, 200));
  const later = await client.execute("step");
  assert.equal(Number((ofType(later, "execute_result")[0]!.data as Record<string, string>)["text/plain"]), value, "the interrupted loop no longer runs");
});

test("a stray async error, once the library (and its WebAssembly runtime) loaded, is reported and the kernel keeps serving", async () => {
  assert.equal(resultText(await client.execute("typeof quantize4bit")), "'function'");
  const first = await client.execute("setTimeout(() => { throw new Error('stray'); }, 10); 1");
  const firstId = (first.reply.parent_header as { msg_id: string }).msg_id;
  await client.execute("await new Promise((r) => setTimeout(r, 300));");
  const report = client.strayIopub.find((m) => m.header.msg_type === "stream" && (m.content as { text: string }).text.includes("Uncaught (in async code): Error: stray"));
  assert.ok(report, "the stray error was reported");
  assert.equal((report.parent_header as { msg_id: string }).msg_id, firstId);
  assert.equal(resultText(await client.execute("2 + 2")), "4");
});

test("interrupt_request stops a synchronous loop after an await, says where, and keeps variables", { timeout: 60_000 }, async () => {
  await client.execute("let spins = 0;");
  const running = client.execute("await null;\nfor (;;) { spins++; }");
  await sleep(1500);
  assert.equal(content(await client.request("control", "interrupt_request", {})).status, "ok");
  const result = await running;
  assert.equal(content(result).ename, "KeyboardInterrupt");
  assert.match((content(result).traceback as string[]).join("\n"), /synchronous code at In\[\d+\]:2:/);
  assert.equal(resultText(await client.execute("spins > 0")), "true");
});

test("interrupt_request stops a loop inside an awaited async function, and a stray timer's loop with no cell running", { timeout: 60_000 }, async () => {
  const running = client.execute("async function spin() {\n  await new Promise((r) => setTimeout(r, 10));\n  for (;;) spins++;\n}\nawait spin();");
  await sleep(1500);
  await client.request("control", "interrupt_request", {});
  const result = await running;
  assert.equal(content(result).ename, "KeyboardInterrupt");
  assert.match((content(result).traceback as string[]).join("\n"), /synchronous code at In\[\d+\]:3:/);
  assert.equal(resultText(await client.execute("setTimeout(() => { for (;;) spins++; }, 100); 'scheduled'")), "'scheduled'");
  await sleep(1000);
  assert.equal(content(await client.request("control", "interrupt_request", {})).status, "ok");
  assert.equal(resultText(await client.execute("typeof spin")), "'function'");
});

test("a huge output arrives complete and in order", async () => {
  const result = await client.execute("for (let i = 0; i < 200000; i++) console.log(`line ${i}`);");
  assert.equal(content(result).status, "ok");
  const text = ofType(result, "stream").map((c) => c.text).join("");
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.length, 200000);
  assert.equal(lines[0], "line 0");
  assert.equal(lines[199999], "line 199999");
});

test("errors: one error message, the cell's own line numbers, type errors too", async () => {
  const runtime = await client.execute("const a = 1;\nfunction boom(): never {\n  throw new RangeError('bad');\n}\nboom();");
  assert.equal(content(runtime).ename, "RangeError");
  assert.deepEqual(runtime.iopub.map((m) => m.header.msg_type).filter((t) => t !== "status"), ["execute_input", "error"]);
  assert.ok((content(runtime).traceback as string[]).some((l) => /In\[\d+\]:3:/.test(l)), String(content(runtime).traceback));
  const typed = await client.execute("const n: number = 1;\nconst s: string = n;");
  assert.equal(content(typed).ename, "TSError");
  assert.match(String(content(typed).evalue), /line 2/);
});

test("stdin: input() asks the front end when allow_stdin is set", async () => {
  client.onInput = (prompt) => `answer to ${prompt}`;
  const result = await client.execute("await input('q?')", { allowStdin: true });
  assert.equal((ofType(result, "execute_result")[0]!.data as Record<string, string>)["text/plain"], "'answer to q?'");
  const refused = await client.execute("await input('q?')", { allowStdin: false });
  assert.equal(content(refused).status, "error");
});

test("output from a cell's leftover async work goes to that cell", async () => {
  const first = await client.execute("setTimeout(() => console.log('late'), 300); 1");
  const firstId = (first.reply.parent_header as { msg_id: string }).msg_id;
  await client.execute("await new Promise((r) => setTimeout(r, 600)); 2");
  const late = client.strayIopub.find((m) => m.header.msg_type === "stream" && (m.content as { text: string }).text.includes("late"));
  assert.ok(late, "the late output was published");
  assert.equal((late.parent_header as { msg_id: string }).msg_id, firstId);
});

test("shutdown_request is answered, then the process exits", async () => {
  const extra = await KernelClient.launch({ stderr: "pipe" });
  await extra.waitReady(120_000);
  const exited = new Promise<number | null>((resolve) => extra.child!.once("exit", resolve));
  const reply = await extra.request("control", "shutdown_request", { restart: false });
  assert.deepEqual(content(reply), { status: "ok", restart: false });
  assert.equal(await exited, 0);
  await extra.close();
});
