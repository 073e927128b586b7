// From the same initial adapter, the same pre-tokenized rows in file order and the same AdamW
// (constant lr, no warmup, no dropout, float32 base), 20 steps of trainFromRecipe on stories260K give
// the per-step losses and final adapter weights of PyTorch's run (torch.optim.AdamW,
// clip_grad_norm_, a PEFT-equivalent LoRA in lora_train_reference.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveBackend } from "../../../lib/backend.js";
import { SafetensorsFile } from "../../../lib/io/safetensors.js";
import { trainFromRecipe } from "../../../lib/recipe/index.js";
import { jupyterPython, skipUnlessPythonModules } from "../../helpers/jupyter.js";
import { HF_MODEL, SHARED, logLosses, recipeFor, tokenizedRows, writeInitialAdapter, writeRows } from "./helpers.js";

const skip = !existsSync(HF_MODEL) ? "shared/models/stories260K-hf is not present" : skipUnlessPythonModules("torch");

test("20 recipe steps on stories260K match PyTorch + a PEFT-equivalent LoRA: losses within 1e-4 relative, adapter within 1e-4", { skip, timeout: 120_000 }, async (t) => {
  await resolveBackend();
  const dir = mkdtempSync(join(tmpdir(), "qlora-recipe-torch-"));
  try {
    const rows = tokenizedRows();
    const rowsPath = writeRows(dir, rows);
    const initial = await writeInitialAdapter(dir);
    const output = join(dir, "out");
    const run = await trainFromRecipe(recipeFor(rowsPath, output), { initAdapter: initial });
    assert.equal(run.result.stepsDone, SHARED.steps);

    const request = JSON.stringify({ model_dir: HF_MODEL, adapter_dir: initial, rows, batch_size: SHARED.batchSize, steps: SHARED.steps, lr: SHARED.lr, betas: SHARED.betas, eps: SHARED.eps, weight_decay: SHARED.weightDecay, max_grad_norm: SHARED.maxGradNorm });
    const torch = spawnSync(jupyterPython, [new URL("./lora_train_reference.py", import.meta.url).pathname], { input: request, encoding: "utf8", maxBuffer: 1 << 28, timeout: 90_000 });
    assert.equal(torch.status, 0, torch.stderr);
    const reference = JSON.parse(torch.stdout) as { losses: number[]; grad_norms: number[]; adapter: Record<string, number[]> };

    const losses = logLosses(readFileSync(run.outputs.log, "utf8"));
    assert.equal(losses.length, SHARED.steps);
    let worstLoss = 0;
    losses.forEach((loss, i) => {
      const rel = Math.abs(loss - reference.losses[i]!) / Math.abs(reference.losses[i]!);
      worstLoss = Math.max(worstLoss, rel);
      assert.ok(rel <= 1e-4, `step ${i + 1}: loss ${loss} vs PyTorch ${reference.losses[i]} (relative ${rel.toExponential(2)})`);
    });
    t.diagnostic(`relative loss differences by step: ${losses.map((l, i) => (Math.abs(l - reference.losses[i]!) / reference.losses[i]!).toExponential(1)).join(" ")}`);
    assert.ok(reference.grad_norms.some((n) => n > SHARED.maxGradNorm), "clipping acts on some steps (the clip rule is exercised)");
    assert.ok(losses[losses.length - 1]! < losses[0]! - 0.1, `the loss falls (${losses[0]} -> ${losses[losses.length - 1]})`);

    const saved = SafetensorsFile.open(join(run.outputs.adapter, "adapter_model.safetensors"));
    assert.deepEqual(saved.names().sort(), Object.keys(reference.adapter).sort());
    let worstWeight = 0;
    for (const [name, wanted] of Object.entries(reference.adapter)) {
      const got = saved.readFloat32(name);
      for (let i = 0; i < wanted.length; i++) worstWeight = Math.max(worstWeight, Math.abs(got[i]! - wanted[i]!));
    }
    t.diagnostic(`worst loss difference ${worstLoss.toExponential(2)} relative; worst adapter weight difference ${worstWeight.toExponential(2)}`);
    assert.ok(worstWeight <= 1e-4, `adapter weights within 1e-4 of PyTorch's (worst ${worstWeight})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
