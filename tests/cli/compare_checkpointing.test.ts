// `qlora-lab compare --gradient-checkpointing`: both runs train with each decoder block recomputed in
// the backward, and the report says so (the option's effect on gradients and memory is tested in
// tests/lib/train/gradient_checkpointing.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "./cli.js";

test("qlora-lab compare --gradient-checkpointing trains both runs checkpointed and says so", async () => {
  const run = await runCli(["compare", "--steps", "2", "--batch-size", "4", "--gradient-checkpointing", "--json"], { limitS: 120 });
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout) as { gradientCheckpointing: boolean; runs: { name: string; steps: unknown[] }[] };
  assert.equal(report.gradientCheckpointing, true);
  assert.deepEqual(report.runs.map((r) => [r.name, r.steps.length]), [["LoRA", 2], ["QLoRA", 2]]);
  const help = await runCli(["compare", "--help"], { limitS: 30 });
  assert.match(help.stdout, /--gradient-checkpointing\s+recompute each decoder block's activations in the backward/);
});
