// The wasm backend's heap stops at 4 GiB. Filling it with 1 GiB tensors (in a child process: the heap
// never shrinks) ends in a clear refusal naming the bytes asked for, what tensors hold and the limit,
// not in "memory access out of bounds"; nothing is allocated by the refused call, the tensors made
// before keep their values, and once they are freed the backend computes and allocates again.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

test("an allocation past the wasm heap's 4 GiB is refused clearly, and the backend stays usable", { timeout: 120_000 }, () => {
  const child = spawnSync(process.execPath, ["--import", "tsx", new URL("./wasm_heap_limit_child.ts", import.meta.url).pathname], { encoding: "utf8", timeout: 100_000 });
  assert.equal(child.status, 0, child.stderr);
  const r = JSON.parse(child.stdout.trim().split("\n").at(-1)!) as {
    backend: string; held: number; refusal?: { name: string; message: string }; numBytesBefore: number; numTensorsBefore: number;
    after: { numBytes: number; numTensors: number }; intact: boolean; tooLarge: string | null; sum: number[]; againOk: boolean;
  };
  assert.equal(r.backend, "wasm");
  assert.ok(r.refusal, `no refusal after ${r.held} tensors of 1 GiB`);
  assert.ok(r.held >= 2 && r.held <= 3, `${r.held} tensors of 1 GiB fitted`);
  assert.equal(r.refusal.name, "MemoryLimitError");
  assert.match(r.refusal.message, /^WebAssembly heap: expected an allocation that fits the wasm backend's 4 GiB heap, got a request for 1 GiB while tensors hold [23] GiB of the [\d.]+ GiB it has grown to\. Nothing was allocated\./);
  assert.deepEqual(r.after, { numBytes: r.numBytesBefore, numTensors: r.numTensorsBefore }, "the refused call allocated nothing");
  assert.ok(r.intact, "tensors made before the refusal kept their values");
  assert.match(r.tooLarge ?? "", /got a request for 8 GiB/);
  assert.deepEqual(r.sum, [11, 22, 33]);
  assert.ok(r.againOk, "a 1 GiB tensor allocates again once the others are freed");
});
