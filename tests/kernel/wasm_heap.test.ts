// The wasm heap's 4 GiB limit inside a real kernel: a cell that fills the heap gets the library's clear
// error (the bytes asked for, what tensors hold, the limit) as its result, not a wasm abort, and the
// kernel keeps computing and allocating in the next cells with every variable intact.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { KernelClient } from "../../client/kernel_client.js";
import { content, resultText } from "./kernel_results.js";

let client: KernelClient;
const run = async (cell: string) => resultText(await client.execute(cell));

before(async () => {
  client = await KernelClient.launch({ stderr: "pipe" });
  await client.waitReady(120_000);
});

after(async () => {
  await client?.shutdown();
});

test("a cell past the wasm heap's 4 GiB fails clearly, and the kernel stays usable", { timeout: 180_000 }, async (t) => {
  if ((await run("tf.getBackend()")) !== "'wasm'") {
    t.skip("the active backend is not wasm: its heap limit does not apply");
    return;
  }
  await run("const kept = tf.tensor1d([1, 2, 3]); const held: tf.Tensor[] = [];");
  const failed = await client.execute("for (let i = 0; i < 8; i++) held.push(tf.fill([2 ** 28], i + 1)); // 1 GiB each");
  const reply = content(failed);
  assert.equal(reply.status, "error");
  assert.equal(reply.ename, "MemoryLimitError");
  assert.match(String(reply.evalue), /^WebAssembly heap: expected an allocation that fits the wasm backend's 4 GiB heap, got a request for 1 GiB while tensors hold [23] GiB of the [\d.]+ GiB it has grown to\. Nothing was allocated\./);
  assert.equal(await run("held.every((h, i) => h.slice([2 ** 28 - 2], [2]).dataSync().every((v) => v === i + 1))"), "true");
  assert.equal(await run("tf.dispose(held); held.length = 0; tf.add(kept, tf.tensor1d([10, 20, 30])).arraySync()"), "[ 11, 22, 33 ]");
  assert.equal(await run("const again = tf.fill([2 ** 28], 7); const first = again.slice([0], [1]).dataSync()[0]; again.dispose(); first"), "7");
});
