// On a real pretrained checkpoint (stories260K, Karpathy's tinyllamas, via ../shared/models): a short
// QLoRA run lowers the eval loss of a shipped task, and the saved adapter, loaded onto a freshly
// quantized base, gives the same eval loss.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { loadModel, loadTokenizer } from "../../../lib/model/index.js";
import { loadAdapter, quantizeBaseLinears, saveAdapter, toQloraModel } from "../../../lib/lora/index.js";
import { evaluateLoss, train } from "../../../lib/train/index.js";
import { loadTask } from "../../../lib/data/index.js";

const models = fileURLToPath(new URL("../../../../shared/models/", import.meta.url));
const modelDir = join(models, "stories260K-hf");
const tokenizerPath = join(models, "stories260K", "tok512.bin");

test("QLoRA on stories260K lowers the eval loss and the saved adapter reloads to the same loss", { skip: !existsSync(modelDir) && "shared/models/stories260K-hf is not present" }, async (t) => {
  await resolveBackend();
  const tokenizer = await loadTokenizer(tokenizerPath);
  const task = loadTask("color");
  const evalSet = task.eval.slice(0, 24);
  const dir = mkdtempSync(join(tmpdir(), "qlora-adapter-"));
  const tensorsBefore = tf.memory().numTensors;
  try {
    const base = await loadModel(modelDir);
    const qlora = toQloraModel(base, { r: 8, lora_alpha: 16, target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] }, { quantType: "nf4", doubleQuant: true }, { seed: 3 });
    const result = await train(qlora, task.train, { tokenizer, steps: 12, batchSize: 8, lr: 5e-3, seed: 3, run: "QLoRA", eval: { examples: evalSet } });
    const [before, after] = [result.evals[0]!.loss, result.evals[result.evals.length - 1]!.loss];
    t.diagnostic(`eval loss ${before.toFixed(4)} -> ${after.toFixed(4)}`);
    assert.ok(after < before - 0.5, `eval loss fell from ${before.toFixed(3)} to ${after.toFixed(3)}`);
    assert.ok(result.steps[0]!.memory!.base_packed! > 0 && result.steps[0]!.memory!.lora_params! > 0, "memory records show a 4-bit base and LoRA factors");
    saveAdapter(qlora, dir);
    qlora.dispose();
    base.dispose();

    const fresh = await loadModel(modelDir);
    quantizeBaseLinears(fresh, { quantType: "nf4", doubleQuant: true });
    const reloaded = loadAdapter(fresh, dir);
    const again = await evaluateLoss(reloaded, evalSet, { tokenizer });
    t.diagnostic(`reloaded adapter: ${again.loss.toFixed(6)} (trained ${after.toFixed(6)})`);
    assert.ok(Math.abs(again.loss - after) < 1e-4, `reloaded adapter: ${again.loss} vs ${after}`);
    reloaded.dispose();
    fresh.dispose();
    assert.equal(tf.memory().numTensors, tensorsBefore, "no tensors leak");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
