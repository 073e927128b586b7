// Loading straight into 4 bits never holds the float32 model: a random-weight smollm2-135m (134.5 M
// parameters, 538 MB in float32) saved as a sharded bfloat16 checkpoint is loaded into NF4 with double
// quantization in a child process (the checkpoint is written by another, so the measuring one starts small), whose own peak resident size (process.resourceUsage().maxRSS) must
// stay within the final model (as the ledger counts it) plus twice the largest tensor in float32 (it
// measures about one: the embedding's float32 copy before it moves into the backend), below the
// float32 model alone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expectedWeightShapes, presetConfig } from "../../../lib/model/index.js";

const MIB = 2 ** 20;

/** Runs load_peak_child.ts in a fresh process and returns its JSON line. */
function runChild<T>(mode: "write" | "load", dir: string): T {
  const child = spawnSync(process.execPath, ["--import", "tsx", new URL("./load_peak_child.ts", import.meta.url).pathname, mode, dir], { encoding: "utf8", timeout: 100_000 });
  assert.equal(child.status, 0, `${mode}: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split("\n").at(-1)!) as T;
}

test("smollm2-135m from sharded bf16 into NF4 + DQ: the child's peak RSS is the final model plus at most two float32 tensors", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-load-peak-"));
  try {
    const { shards } = runChild<{ shards: string[] }>("write", dir);
    assert.ok(shards.length >= 2, `a sharded checkpoint (${shards.length} shard)`);
    const shapes = [...expectedWeightShapes(presetConfig("smollm2-135m")).values()].map((s) => s.reduce((a, b) => a * b, 1));
    const float32Bytes = 4 * shapes.reduce((a, b) => a + b, 0);
    const largestTensorBytes = 4 * Math.max(...shapes); // the [49152, 576] embedding

    const m = runChild<{ rssBefore: number; peakBefore: number; peakAfter: number; seconds: number; modelBytes: number; byCategory: Record<string, number> }>("load", dir);
    const growth = m.peakAfter - m.rssBefore;
    const mib = (n: number) => `${(n / MIB).toFixed(0)} MiB`;
    const report = `peak RSS growth ${mib(growth)}; final model ${mib(m.modelBytes)} (4-bit codes ${mib(m.byCategory.base_packed!)}, scales ${mib(m.byCategory.quant_constants!)}, float32 embedding and norms ${mib(m.byCategory.base_dense!)}); largest float32 tensor ${mib(largestTensorBytes)}; float32 model ${mib(float32Bytes)}; ${m.seconds.toFixed(1)} s`;
    console.log(report);
    assert.ok(m.peakBefore <= m.rssBefore + 64 * MIB, `the process had not peaked above its starting size before loading (${mib(m.peakBefore)} vs ${mib(m.rssBefore)})`);
    assert.ok(growth <= m.modelBytes + 2 * largestTensorBytes, report);
    // Had the float32 model existed, even for a moment, the growth would exceed it (plus the model).
    assert.ok(growth < float32Bytes, report);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
