// Gradient checkpointing, measured and planned: lib/train trains two steps with a MemoryLedger, with
// and without gradientCheckpointing, and the planner (runtime "tfjs", gradientCheckpointing true) must
// predict the checkpointed run's peak as planner_tfjs.test.ts holds the plain run's: resident
// categories exactly, activations within 1 %, the total within 10 %. Models: the shipped base model and
// stories260K (../shared/models) at 16 x 64 tokens, and a random model with SmolLM2-135M's block shape
// (576 hidden, 1536 intermediate, 9 heads, 3 KV heads), 4 layers and the shipped vocabulary, where a
// block's activations outweigh its weights. Random weights: this measures memory, not quality.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { configToHf, loadModel, loadTokenizer, presetConfig, randomModel, type LlamaModel } from "../../../lib/model/index.js";
import { toLoraModel, toQloraModel } from "../../../lib/lora/index.js";
import { train } from "../../../lib/train/index.js";
import { loadTask, shippedModelPath } from "../../../lib/data/index.js";
import { MemoryLedger } from "../../../lib/memory/index.js";
import { planByCategory, planMemory, type TfjsBackendKind } from "../../../lib/plan/index.js";

const models = fileURLToPath(new URL("../../../../shared/models/", import.meta.url));
const SHIPPED_TOKENIZER = join(shippedModelPath(), "tokenizer.json");
const TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
const MiB = 2 ** 20;
const QUANT = { quantType: "nf4", doubleQuant: true, blocksize: 64 } as const;

interface Case {
  name: string;
  /** The float32 base (a fresh one per run) and its config.json fields. */
  base: () => Promise<LlamaModel>;
  config: () => Record<string, unknown>;
  tokenizer: string;
  task: string;
}

const SMOL_BLOCKS = { ...presetConfig("smollm2-135m"), numLayers: 4, vocabSize: 947 }; // 947: the shipped tokenizer's vocabulary
const CASES: Case[] = [
  { name: "base-model", base: () => loadModel(shippedModelPath()), config: () => readConfig(shippedModelPath()), tokenizer: SHIPPED_TOKENIZER, task: "home" },
  { name: "stories260K", base: () => loadModel(join(models, "stories260K-hf")), config: () => readConfig(join(models, "stories260K-hf")), tokenizer: join(models, "stories260K", "tok512.bin"), task: "color" },
  { name: "random, SmolLM2-135M blocks x 4", base: async () => randomModel(SMOL_BLOCKS, { seed: 1 }), config: () => configToHf(SMOL_BLOCKS), tokenizer: SHIPPED_TOKENIZER, task: "home" },
];

function readConfig(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
}

/** The ledger's peak of two training steps of `method` on `c`, with or without checkpointing. */
async function measuredPeak(c: Case, method: "lora" | "qlora", batch: number, seqLen: number, r: number, gradientCheckpointing: boolean) {
  const tokenizer = await loadTokenizer(c.tokenizer);
  const base = await c.base();
  const config = { r, lora_alpha: 2 * r, target_modules: TARGETS };
  const model = method === "lora" ? toLoraModel(base, config, { seed: 0 }) : toQloraModel(base, config, QUANT, { seed: 0 });
  try {
    const ledger = new MemoryLedger();
    // Packed windows make every micro-batch exactly [batch, seqLen]; two steps so the optimizer state exists.
    await train(model, loadTask(c.task).train, { tokenizer, steps: 2, batchSize: batch, maxLength: seqLen, packing: true, lr: 1e-3, ledger, stopOnSigint: false, gradientCheckpointing });
    return ledger.peak();
  } finally {
    model.dispose();
  }
}

async function check(t: { diagnostic(message: string): void }, c: Case, batch: number, seqLen: number, r: number): Promise<void> {
  const backend = tf.getBackend() as TfjsBackendKind;
  for (const method of ["lora", "qlora"] as const) {
    const plain = await measuredPeak(c, method, batch, seqLen, r, false);
    const checkpointed = await measuredPeak(c, method, batch, seqLen, r, true);
    const setup = { method, r, targetModules: TARGETS, batch, seqLen, runtime: "tfjs", backend, ...QUANT } as const;
    const plan = planMemory(c.config(), { ...setup, gradientCheckpointing: true });
    const plainPlan = planMemory(c.config(), { ...setup, gradientCheckpointing: false });
    const planned = planByCategory(plan);
    const drop = 1 - checkpointed.totalBytes / plain.totalBytes;
    const error = (plan.totalBytes - checkpointed.totalBytes) / checkpointed.totalBytes;
    const activationError = (planned.activations! - checkpointed.activations) / checkpointed.activations;
    t.diagnostic(
      `${c.name} ${method} (${backend}, ${batch} x ${seqLen}, r ${r}): step peak ${(plain.totalBytes / MiB).toFixed(2)} -> ${(checkpointed.totalBytes / MiB).toFixed(2)} MiB with checkpointing (-${(100 * drop).toFixed(1)} %), ` +
        `activations ${(plain.activations / MiB).toFixed(2)} -> ${(checkpointed.activations / MiB).toFixed(2)} MiB; planned ${(plainPlan.totalBytes / MiB).toFixed(2)} -> ${(plan.totalBytes / MiB).toFixed(2)} MiB ` +
        `(checkpointed: total ${(100 * error).toFixed(3)} %, activations ${(100 * activationError).toFixed(3)} %)`,
    );
    assert.ok(checkpointed.totalBytes < plain.totalBytes && checkpointed.activations < plain.activations, "checkpointing lowers the step's peak");
    for (const category of ["base_packed", "quant_constants", "base_dense", "lora_params", "gradients", "optimizer_resident"] as const) {
      assert.equal(planned[category] ?? 0, checkpointed[category], `${c.name} ${method} ${category}`);
      assert.equal(checkpointed[category], plain[category], `${category} does not change with checkpointing`);
    }
    assert.ok(Math.abs(activationError) <= 0.01, `activations: planned ${planned.activations} vs measured ${checkpointed.activations}`);
    assert.ok(Math.abs(error) < 0.1, `total: planned ${plan.totalBytes} vs measured ${checkpointed.totalBytes}`);
  }
}

for (const c of CASES.slice(0, 2)) {
  const dir = c.name === "stories260K" ? join(models, "stories260K-hf") : shippedModelPath();
  test(`gradient checkpointing lowers the measured peak, and the planner predicts it: ${c.name}, LoRA and QLoRA`, { skip: !existsSync(dir) && `${dir} is not present` }, async (t) => {
    await resolveBackend();
    await check(t, c, 16, 64, 8);
  });
}

test("gradient checkpointing lowers the measured peak, and the planner predicts it: a random model of SmolLM2-135M's blocks, 8 x 128 tokens", async (t) => {
  await resolveBackend();
  await check(t, CASES[2]!, 8, 128, 8);
});

test("gradient checkpointing on the cpu backend: the planner follows its own code paths", async (t) => {
  await resolveBackend({ force: "cpu" });
  await check(t, CASES[0]!, 4, 32, 4);
});

test("gradient checkpointing on a full fine-tune (every weight a variable, tied embedding): lower, and planned", async (t) => {
  await resolveBackend();
  const tokenizer = await loadTokenizer(SHIPPED_TOKENIZER);
  const peakOf = async (gradientCheckpointing: boolean) => {
    const model = await loadModel(shippedModelPath(), { trainable: "all" });
    try {
      const ledger = new MemoryLedger();
      await train(model, loadTask("home").train, { tokenizer, steps: 2, batchSize: 8, maxLength: 64, packing: true, lr: 1e-3, ledger, stopOnSigint: false, gradientCheckpointing });
      return ledger.peak();
    } finally {
      model.dispose();
    }
  };
  const [plain, checkpointed] = [await peakOf(false), await peakOf(true)];
  const planned = planByCategory(planMemory(readConfig(shippedModelPath()), { method: "full", batch: 8, seqLen: 64, runtime: "tfjs", backend: tf.getBackend() as TfjsBackendKind, gradientCheckpointing: true }));
  t.diagnostic(`base-model full (8 x 64): step peak ${(plain.totalBytes / MiB).toFixed(2)} -> ${(checkpointed.totalBytes / MiB).toFixed(2)} MiB; activations planned ${planned.activations} B, measured ${checkpointed.activations} B`);
  assert.ok(checkpointed.totalBytes < plain.totalBytes);
  for (const category of ["base_dense", "gradients", "optimizer_resident"] as const) assert.equal(planned[category], checkpointed[category], category);
  assert.ok(Math.abs(planned.activations! - checkpointed.activations) <= 0.01 * checkpointed.activations, `activations: planned ${planned.activations} vs measured ${checkpointed.activations}`);
});
