// Gradient checkpointing (lib/ops/recompute.ts through LlamaModel.loss): the gradients of every
// trainable variable equal the plain path's, for LoRA on a float32, a 16-bit and a 4-bit base, on
// stories260K and on a random model of more layers; dropout masks are drawn again as in the forward.
// Tolerance: 1e-6 absolute on gradients of order 1e-1..1e0 (the bound). The recompute runs the
// same float32 kernels on the same inputs in the same order, so the gradients come out bit for bit equal
// (max |diff| 0 on wasm); the bound leaves room for a backend that sums a gradient's parts in another order.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { llamaConfig, loadModel, randomModel, type LlamaModel } from "../../../lib/model/index.js";
import { toLora16Model, toLoraModel, toQloraModel, type LoraModel } from "../../../lib/lora/index.js";
import { seededNormal } from "../../../lib/quant/random_normal.js";
import { train } from "../../../lib/train/index.js";
import { compareLoraQlora } from "../../../lib/train/compare.js";
import { loadTask, shippedModelPath } from "../../../lib/data/index.js";
import { HF_MODEL } from "../model/helpers.js";
import { shippedTokenizer } from "./helpers.js";

const TOLERANCE = 1e-6;
const TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
type Base = "f32" | "bf16" | "nf4";

/** LoRA of rank 4 on every projection of `base`, stored as `kind`; B drawn non-zero so every gradient is non-trivial. */
function adapt(base: LlamaModel, kind: Base, dropout = 0): LoraModel<LlamaModel> {
  const config = { r: 4, lora_alpha: 8, target_modules: TARGETS, lora_dropout: dropout };
  const lora = kind === "f32" ? toLoraModel(base, config, { seed: 1 }) : kind === "bf16" ? toLora16Model(base, config, "bf16", { seed: 1 }) : toQloraModel(base, config, { quantType: "nf4", doubleQuant: true, blocksize: 64 }, { seed: 1 });
  lora.trainableVariables().forEach((p, i) => {
    if (p.name.includes("lora_B")) p.variable.assign(tf.tensor(seededNormal(p.variable.size, 100 + i, { std: 0.05 }), p.variable.shape));
  });
  return lora;
}

/** What the comparison needs of a model: its loss, its trainable variables and its vocabulary. */
type Trained = Pick<LlamaModel, "loss" | "trainableVariables"> & { config: { vocabSize: number } };

/** Every trainable variable's gradient of the mean loss on fixed ids, by name. */
function gradients(model: Trained, batch: number, time: number, vocab: number, gradientCheckpointing: boolean): Map<string, Float32Array> {
  const ids = Array.from({ length: batch * (time + 1) }, (_, i) => (i * 7919 + 13) % vocab);
  const rows = (offset: number) => Array.from({ length: batch }, (_, b) => ids.slice(b * (time + 1) + offset, b * (time + 1) + offset + time));
  const params = model.trainableVariables();
  const x = tf.tensor2d(rows(0), [batch, time], "int32");
  const y = tf.tensor2d(rows(1), [batch, time], "int32");
  const mask = tf.ones([batch, time]) as tf.Tensor2D;
  const { value, grads } = tf.variableGrads(() => model.loss(x, y, mask, { gradientCheckpointing }), params.map((p) => p.variable));
  const byTfName = new Map(params.map((p) => [p.variable.name, p.name]));
  const out = new Map<string, Float32Array>();
  for (const [tfName, g] of Object.entries(grads)) out.set(byTfName.get(tfName)!, g.dataSync() as Float32Array);
  tf.dispose([x, y, mask, value, ...Object.values(grads)]);
  return out;
}

/** Compares the checkpointed gradients with the plain ones; returns the largest difference and the largest gradient. */
function compareGradients(model: Trained, batch: number, time: number): { worst: number; largest: number } {
  const vocab = model.config.vocabSize;
  const before = tf.memory().numTensors;
  const plain = gradients(model, batch, time, vocab, false);
  const checkpointed = gradients(model, batch, time, vocab, true);
  assert.equal(tf.memory().numTensors, before, "no tensors left behind");
  assert.deepEqual([...checkpointed.keys()].sort(), [...plain.keys()].sort());
  let worst = 0;
  let largest = 0;
  for (const [name, g] of plain) {
    const c = checkpointed.get(name)!;
    for (let i = 0; i < g.length; i++) {
      worst = Math.max(worst, Math.abs(g[i]! - c[i]!));
      largest = Math.max(largest, Math.abs(g[i]!));
    }
  }
  assert.ok(largest > 1e-3, `gradients are not trivially zero (largest ${largest})`);
  assert.ok(worst <= TOLERANCE, `max |checkpointed - plain| = ${worst} exceeds ${TOLERANCE}`);
  return { worst, largest };
}

/** A LoRA model seen with its base's config. */
function withConfig(lora: LoraModel<LlamaModel>): Trained {
  return { loss: lora.loss.bind(lora), trainableVariables: () => lora.trainableVariables(), config: lora.model.config };
}

for (const kind of ["f32", "bf16", "nf4"] as const) {
  test(`gradient checkpointing: the same gradients as the plain path, stories260K, LoRA on a ${kind} base`, { skip: !existsSync(HF_MODEL) && `${HF_MODEL} is not present` }, async (t) => {
    await resolveBackend();
    const base = await loadModel(HF_MODEL);
    const lora = adapt(base, kind);
    try {
      const { worst, largest } = compareGradients(withConfig(lora), 4, 32);
      t.diagnostic(`stories260K ${kind} (${tf.getBackend()}): max |diff| ${worst.toExponential(2)}, largest gradient ${largest.toExponential(2)}`);
    } finally {
      lora.dispose();
    }
  });

  test(`gradient checkpointing: the same gradients as the plain path, a random 6-layer model, LoRA on a ${kind} base`, async (t) => {
    await resolveBackend();
    const config = llamaConfig({ vocabSize: 256, hiddenSize: 128, intermediateSize: 352, numLayers: 6, numHeads: 4, numKvHeads: 2, maxPositionEmbeddings: 256 });
    const base = randomModel(config, { seed: 3 });
    const lora = adapt(base, kind);
    try {
      const { worst, largest } = compareGradients(withConfig(lora), 2, 48);
      t.diagnostic(`random 6-layer ${kind} (${tf.getBackend()}): max |diff| ${worst.toExponential(2)}, largest gradient ${largest.toExponential(2)}`);
    } finally {
      lora.dispose();
    }
  });
}

test("gradient checkpointing: LoRA dropout draws the same masks in the recompute as in the forward", async () => {
  await resolveBackend();
  const config = llamaConfig({ vocabSize: 256, hiddenSize: 64, intermediateSize: 160, numLayers: 3, numHeads: 4, maxPositionEmbeddings: 64 });
  // Two identical models, so each path starts from the same dropout draw counter.
  const [plainModel, checkpointedModel] = [randomModel(config, { seed: 5 }), randomModel(config, { seed: 5 })].map((base) => adapt(base, "f32", 0.3));
  try {
    for (const m of [plainModel!, checkpointedModel!]) m.setTraining(true);
    const plain = gradients(withConfig(plainModel!), 2, 16, 256, false);
    const checkpointed = gradients(withConfig(checkpointedModel!), 2, 16, 256, true);
    for (const [name, g] of plain) {
      const c = checkpointed.get(name)!;
      for (let i = 0; i < g.length; i++) assert.ok(Math.abs(g[i]! - c[i]!) <= TOLERANCE, `${name}[${i}]: ${c[i]} vs ${g[i]}`);
    }
    // Dropout was on: without it the gradients differ.
    plainModel!.setTraining(false);
    const undropped = gradients(withConfig(plainModel!), 2, 16, 256, false);
    assert.ok([...undropped].some(([name, g]) => g.some((v, i) => Math.abs(v - plain.get(name)![i]!) > 1e-4)), "dropout changes the gradients");
    plainModel!.setTraining(true);
    // The draw counters end where the plain path's do: the next step draws the next masks.
    const counts = (m: LoraModel<LlamaModel>) => [...m.model.linears().values()].map((l) => l.drawCount);
    assert.deepEqual(counts(checkpointedModel!), counts(plainModel!));
  } finally {
    plainModel!.dispose();
    checkpointedModel!.dispose();
  }
});

test("gradient checkpointing: the same gradients on a full fine-tune (norms and projections are variables, the embedding outside the blocks)", { skip: !existsSync(HF_MODEL) && `${HF_MODEL} is not present` }, async (t) => {
  await resolveBackend();
  const model = await loadModel(HF_MODEL, { trainable: "all" });
  try {
    const { worst, largest } = compareGradients(model, 2, 32);
    t.diagnostic(`stories260K full (${tf.getBackend()}): max |diff| ${worst.toExponential(2)}, largest gradient ${largest.toExponential(2)}`);
  } finally {
    model.dispose();
  }
});

test("train({ gradientCheckpointing: true }) follows the plain run step for step, and a bad value is refused", async () => {
  const tokenizer = await shippedTokenizer();
  const run = async (gradientCheckpointing: boolean) => {
    const base = await loadModel(shippedModelPath());
    const lora = toQloraModel(base, { r: 4, lora_alpha: 8, target_modules: TARGETS }, { quantType: "nf4", doubleQuant: true, blocksize: 64 }, { seed: 0 });
    try {
      const result = await train(lora, loadTask("home").train, { tokenizer, steps: 4, batchSize: 4, maxLength: 32, lr: 1e-2, stopOnSigint: false, gradientCheckpointing });
      return result.steps.map((s) => [s.loss, s.gradNorm]);
    } finally {
      lora.dispose();
    }
  };
  // Equal gradients give equal updates, so every later step's loss and norm are equal too.
  assert.deepEqual(await run(true), await run(false));
  const base = await loadModel(shippedModelPath());
  try {
    await assert.rejects(train(toLoraModel(base, { r: 4 }), loadTask("home").train, { tokenizer, steps: 1, gradientCheckpointing: "yes" as never }), /train: expected gradientCheckpointing true or false, got "yes"/);
  } finally {
    base.dispose();
  }
});

test("compareLoraQlora({ gradientCheckpointing: true }) trains both runs checkpointed and says so", async () => {
  await resolveBackend();
  const report = await compareLoraQlora({ steps: 2, batchSize: 4, evalExamples: 8, metricExamples: 2, inferenceTokens: 2, gradientCheckpointing: true });
  assert.equal(report.gradientCheckpointing, true);
  const plain = await compareLoraQlora({ steps: 2, batchSize: 4, evalExamples: 8, metricExamples: 2, inferenceTokens: 2, modes: ["qlora"] });
  assert.equal(plain.gradientCheckpointing, false);
  const qlora = report.runs.find((r) => r.mode === "qlora")!;
  assert.deepEqual(qlora.steps.map((s) => s.loss), plain.runs[0]!.steps.map((s) => s.loss), "the same losses");
  assert.ok(qlora.peakMemory.activations! < plain.runs[0]!.peakMemory.activations!, `peak activations ${qlora.peakMemory.activations} vs ${plain.runs[0]!.peakMemory.activations}`);
});
