// train() with a memory budget: the planner's estimate for this model, batch, sequence length and
// optimizer state is checked before the run allocates. Over budget, nothing is allocated (tf.memory()
// unchanged) and no checkpoint is written; within it, a QLoRA run of a model of a real shape trains.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { loadTask, shippedModelPath } from "../../../lib/data/index.js";
import { toLora16Model, toLoraModel } from "../../../lib/lora/index.js";
import { loadModel, randomModel, type Tokenizer } from "../../../lib/model/index.js";
import { OverBudgetError, planMemory } from "../../../lib/plan/index.js";
import { runPlanFor, train } from "../../../lib/train/index.js";
import { shippedTokenizer } from "./helpers.js";

let tokenizer: Tokenizer;
const examples = loadTask("home").train.slice(0, 16);

before(async () => {
  tokenizer = await shippedTokenizer();
});

test("over budget: refused before the optimizer, a batch or a checkpoint exists, with the plan and what would fit", async () => {
  const model = toLoraModel(await loadModel(shippedModelPath()), { r: 8, target_modules: ["q_proj", "v_proj"] });
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-budget-"));
  try {
    const options = { tokenizer, steps: 3, batchSize: 16, maxLength: 64, checkpoint: { dir: join(dir, "ck"), every: 1 } };
    const { shape, setup } = runPlanFor(model, options);
    assert.deepEqual([setup.method, setup.r, setup.targetModules, setup.batch, setup.seqLen, setup.runtime], ["lora", 8, ["q_proj", "v_proj"], 16, 64, "tfjs"]);
    const plan = planMemory(shape, setup);
    const before = tf.memory();
    await assert.rejects(train(model, examples, { ...options, budget: Math.round(0.6 * plan.requiredBytes) }), (e: Error) => {
      assert.ok(e instanceof OverBudgetError, e.message);
      assert.match(e.message, /^train: expected a run that fits the budget of [\d.]+ MiB, got this model, LoRA \(base in fp32\), batch 16 x 64 tokens, AdamW 32-bit planned at [\d.]+ MiB \(activations [\d.]+ MiB, base_dense [\d.]+ MiB, .*\)\. Would fit: gradient checkpointing \([\d.]+ MiB\); batch 8 \([\d.]+ MiB\); batch 4 \([\d.]+ MiB\)\. Nothing was allocated\.$/);
      assert.equal(e.plan.requiredBytes, plan.requiredBytes);
      return true;
    });
    const after = tf.memory();
    assert.deepEqual([after.numTensors, after.numBytes], [before.numTensors, before.numBytes], "nothing allocated");
    assert.ok(!existsSync(join(dir, "ck")), "no checkpoint folder written");
    await assert.rejects(train(model, examples, { ...options, budget: "8 apples" }), /train: expected a size such as "8GiB", "512MiB" or "8GB", got "8 apples"/);
    // The budget the plan needs is enough.
    const result = await train(model, examples, { ...options, steps: 1, checkpoint: undefined, budget: plan.requiredBytes });
    assert.equal(result.stepsDone, 1);
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the plan of a 16-bit LoRA base counts its projections at 2 bytes per parameter", async () => {
  const model = toLora16Model(await loadModel(shippedModelPath()), { r: 4, target_modules: "all-linear" }, "bf16");
  try {
    const { shape, setup } = runPlanFor(model, { batchSize: 2, maxLength: 32 });
    assert.equal(setup.baseDtype, "bf16");
    const plan = planMemory(shape, setup);
    const planned = plan.components.filter((c) => c.category === "base_16bit").reduce((n, c) => n + c.bytes, 0);
    const held = model.memoryItems().filter((i) => i.category === "base_16bit").reduce((n, i) => n + i.bytes, 0);
    assert.equal(planned, held);
  } finally {
    model.dispose();
  }
});

test("QLoRA of a random smollm2-135m (a real shape: weights are random, so this measures memory, not quality) trains under a 1 GiB budget", { timeout: 300_000 }, async () => {
  const model = toLoraModel(randomModel("smollm2-135m", { storage: "nf4", seed: 4 }), { r: 8, target_modules: ["q_proj", "v_proj"] });
  try {
    const options = { tokenizer, steps: 2, batchSize: 1, maxLength: 32, lr: 1e-3 };
    assert.equal(runPlanFor(model, options).setup.method, "qlora");
    const result = await train(model, examples, { ...options, budget: "1GiB" });
    assert.equal(result.stepsDone, 2);
    assert.ok(result.steps.every((s) => Number.isFinite(s.loss)));
    await assert.rejects(train(model, examples, { ...options, budget: "64MiB" }), (e: Error) => e instanceof OverBudgetError && /QLoRA \(base in nf4\)/.test(e.message));
  } finally {
    model.dispose();
  }
});
