// Requests a hostile or broken client sends, against the real kernel over zeromq: every request gets a
// reply (an error reply where its content is wrong), a user expression that never settles cannot hold
// the shell, process.exit in a cell is refused and the kernel lives on, and a seeded fuzz of a few
// thousand random and mutated frames on shell and control ends with the kernel answering.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { KernelClient } from "../../client/kernel_client.js";
import { DELIMITER, encode, newHeader, Signer } from "../../kernel/wire.js";
import { content, resultText } from "./kernel_results.js";

let client: KernelClient;

before(async () => {
  // The kernel logs every refused message to stderr; "ignore" rather than an undrained pipe, which fills and blocks it.
  client = await KernelClient.launch({ stderr: "ignore" });
  await client.waitReady(120_000);
  assert.equal(resultText(await client.execute("6 * 7")), "42");
});

after(async () => {
  await client?.shutdown();
});

test("a request whose content has the wrong shape gets an error reply naming the field", { timeout: 60_000 }, async () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["complete_request", { cursor_pos: 3 }, /expected code \(string\), got nothing/],
    ["complete_request", { code: 5, cursor_pos: 1 }, /expected code to be a string, got number 5/],
    ["inspect_request", { code: "x", cursor_pos: "end" }, /expected cursor_pos to be an integer/],
    ["execute_request", { code: "1", user_expressions: { a: 1 } }, /expected user_expressions to be an object of strings/],
    ["execute_request", { code: ["1"] }, /expected code to be a string, got an array/],
    ["history_request", { hist_access_type: "everything" }, /expected hist_access_type to be "range", "tail" or "search"/],
    ["is_complete_request", {}, /expected code \(string\), got nothing/],
  ];
  for (const [type, body, problem] of cases) {
    const reply = content(await client.request("shell", type, body, { timeoutMs: 10_000 }));
    assert.equal(reply.status, "error", `${type} ${JSON.stringify(body)}`);
    assert.equal(reply.ename, "BadRequest");
    assert.match(String(reply.evalue), problem);
  }
  const refused = content(await client.request("shell", "execute_request", { code: "1", user_expressions: { a: 1 } }, { timeoutMs: 10_000 }));
  assert.equal(typeof refused.execution_count, "number", "a refused execute_reply still carries execution_count");
  assert.equal(resultText(await client.execute("1 + 1")), "2");
});

test("a user expression that never settles does not hold the shell; one that awaits is refused", { timeout: 60_000 }, async () => {
  const result = await client.execute("const ready = 1", {
    userExpressions: { pending: "new Promise<void>(() => {})", awaiting: "await new Promise<void>(() => {})", plain: "ready + 1" },
    timeoutMs: 20_000,
  });
  const expressions = content(result).user_expressions as Record<string, Record<string, unknown>>;
  assert.equal(expressions.plain!.status, "ok");
  assert.equal((expressions.plain!.data as Record<string, string>)["text/plain"], "2");
  assert.equal(expressions.pending!.status, "ok");
  assert.match((expressions.pending!.data as Record<string, string>)["text/plain"]!, /^Promise \{\s*<pending>/);
  assert.equal(expressions.awaiting!.status, "error");
  assert.match(String(expressions.awaiting!.evalue), /without awaiting/);
  assert.equal(resultText(await client.execute("ready")), "1");
});

test("process.exit in a cell is refused with a clear error and the kernel keeps its variables", { timeout: 60_000 }, async () => {
  await client.execute("const kept = 'still here'");
  const reply = content(await client.execute("process.exit(1)", { timeoutMs: 20_000 }));
  assert.equal(reply.status, "error");
  assert.equal(reply.ename, "ExitRefusedError");
  assert.match(String(reply.evalue), /would stop the kernel/);
  // From a cell's timer the refusal is a stray error, reported in that cell; the kernel lives on.
  await client.execute("setTimeout(() => process.exit(2), 0); await new Promise((r) => setTimeout(r, 100))", { timeoutMs: 20_000 });
  assert.equal(resultText(await client.execute("kept")), "'still here'");
});

/** A seeded generator of uint32s (mulberry32), so a failing fuzz run can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

test("a seeded fuzz of 3,000 random and mutated frames on shell and control ends with the kernel answering kernel_info and 1+1", { timeout: 120_000 }, async () => {
  const next = random(20261203);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const signer = new Signer(client.connection.key, client.connection.signature_scheme);
  // shutdown_request is left out: a well-formed one would rightly end the kernel.
  const types = ["kernel_info_request", "execute_request", "inspect_request", "complete_request", "is_complete_request", "history_request", "comm_info_request", "comm_open", "comm_msg", "comm_close", "interrupt_request", "no_such_request"];
  const values = [null, true, 0, -1, 1e308, Number.NaN, "", "x".repeat(1000), [], [1, "a"], {}, { nested: { deep: [null] } }, "\u0000\uffff", "1 +", "(", "}{"];
  const randomContent = () => {
    const out: Record<string, unknown> = {};
    for (const field of ["code", "cursor_pos", "detail_level", "user_expressions", "silent", "store_history", "hist_access_type", "n", "comm_id", "target_name", "data", "restart"]) if (next() < 0.4) out[field] = pick(values);
    return out;
  };
  let compiled = 0;
  for (let i = 0; i < 3000; i++) {
    const channel = next() < 0.5 ? "shell" : "control";
    const type = pick(types);
    let body = randomContent();
    // Code that reaches the compiler (a cell, a completion, an inspection) is kept rare: the fuzz is about the wire.
    if (typeof body.code === "string" && /^(execute|inspect|complete|is_complete)_request$/.test(type) && compiled++ > 30) body = { ...body, code: 7 };
    const frames: (string | Buffer)[] = encode({ identities: [], header: newHeader(type, "fuzz"), parent_header: {}, metadata: {}, content: body, buffers: [] }, signer);
    const mutation = next();
    if (mutation < 0.15) frames.splice(Math.floor(next() * frames.length), 1);
    else if (mutation < 0.3) {
      const at = Math.floor(next() * frames.length);
      const bytes = Buffer.from(frames[at]!);
      for (let k = 0; k < 3 && bytes.length; k++) bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
      frames[at] = bytes;
    } else if (mutation < 0.4) frames.push(Buffer.alloc(Math.floor(next() * 64), Math.floor(next() * 256)));
    else if (mutation < 0.45) frames.splice(0, frames.length, ...Array.from({ length: 1 + Math.floor(next() * 8) }, () => Buffer.from(String(next()))));
    else if (mutation < 0.5) frames.splice(0, frames.length, DELIMITER, "", "{", "}", "[]", "null");
    await client.sendRaw(channel, frames);
  }
  const info = content(await client.request("control", "kernel_info_request", {}, { timeoutMs: 60_000 }));
  assert.equal(info.status, "ok");
  assert.equal(resultText(await client.execute("1 + 1", { timeoutMs: 60_000 })), "2");
});
