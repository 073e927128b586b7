// A recipe run stopped part way and resumed reaches the uninterrupted run's losses exactly, with
// LoRA dropout on, shuffled data and gradient accumulation: the adapter, optimizer state, data order
// and dropout masks all continue where the checkpoint left them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { resolveBackend } from "../../../lib/backend.js";
import { shippedModelPath } from "../../../lib/data/index.js";
import { trainFromRecipe } from "../../../lib/recipe/index.js";
import { logLosses } from "./helpers.js";

const color = fileURLToPath(new URL("../../../datasets/tasks/color/train.jsonl", import.meta.url));

function recipe(output: string): Record<string, unknown> {
  return {
    model: { path: shippedModelPath() },
    method: "lora",
    lora: { r: 4, lora_alpha: 8, lora_dropout: 0.2, target_modules: "all-linear" },
    data: { train: color, seq_len: 48 },
    training: { steps: 8, batch_size: 4, gradient_accumulation_steps: 2, seed: 9 },
    optimizer: { lr: 2e-3, weight_decay: 0.01 },
    schedule: { kind: "linear", warmup_steps: 2 },
    save: { every: 100 },
    output,
  };
}

test("stop after step 3, resume: the same 8 losses as a run never stopped, with dropout, shuffle and accumulation", { timeout: 120_000 }, async () => {
  await resolveBackend();
  const dir = mkdtempSync(join(tmpdir(), "qlora-recipe-resume-"));
  try {
    const whole = await trainFromRecipe(recipe(join(dir, "whole")));
    const wanted = logLosses(readFileSync(whole.outputs.log, "utf8"));

    const controller = new AbortController();
    const stopped = await trainFromRecipe(recipe(join(dir, "parts")), { signal: controller.signal, onProgress: (_, record) => record.step === 3 && controller.abort() });
    assert.deepEqual([stopped.result.stopped, stopped.result.stepsDone], [true, 3]);
    assert.ok(stopped.result.checkpoint?.endsWith("step-000003"));

    const resumed = await trainFromRecipe(recipe(join(dir, "parts")), { resume: true });
    assert.equal(resumed.result.stepsDone, 8);
    assert.deepEqual(logLosses(readFileSync(resumed.outputs.log, "utf8")), wanted);
    assert.deepEqual(readFileSync(join(resumed.outputs.adapter, "adapter_model.safetensors")), readFileSync(join(whole.outputs.adapter, "adapter_model.safetensors")), "the same adapter, byte for byte");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
