// The library's wasm kernels (4-bit dequantization and dot product, bfloat16 widening and dot product,
// the native products) give the same results at heap addresses past 2 GiB, where a pointer written
// with JavaScript's signed 32-bit bit operations would turn negative (in a child process: the heap
// never shrinks).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

test("kernels give the same results at wasm heap addresses past 2 GiB", { timeout: 120_000 }, () => {
  const child = spawnSync(process.execPath, ["--import", "tsx", new URL("./high_heap_addresses_child.ts", import.meta.url).pathname], { encoding: "utf8", timeout: 100_000 });
  assert.equal(child.status, 0, child.stderr.trim().split("\n").slice(-3).join("\n").slice(-2000));
  const r = JSON.parse(child.stdout.trim().split("\n").at(-1)!) as { probeAt: number; same: Record<string, boolean> };
  assert.ok(r.probeAt >= 2 ** 31, `the second run's tensors start at ${r.probeAt}, past 2 GiB`);
  assert.deepEqual(r.same, { dequantize: true, dot4: true, widen: true, dot16: true, product: true });
});
