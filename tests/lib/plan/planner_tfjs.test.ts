// The planner against the ledger on the models this project trains: the shipped base model and
// stories260K (Hugging Face form, ../shared/models), LoRA on a float32 base and QLoRA on an NF4 +
// double-quantized base (blocksize 64, as lib/train/compare.ts), trained for two steps by lib/train
// with a MemoryLedger; the plan is made from the model's config.json alone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { loadModel, loadTokenizer } from "../../../lib/model/index.js";
import { toLora16Model, toLoraModel, toQloraModel } from "../../../lib/lora/index.js";
import { train } from "../../../lib/train/index.js";
import { loadTask, shippedModelPath } from "../../../lib/data/index.js";
import { MEMORY_CATEGORIES, MemoryLedger } from "../../../lib/memory/index.js";
import { planByCategory, planMemory, type TfjsBackendKind } from "../../../lib/plan/index.js";

const models = fileURLToPath(new URL("../../../../shared/models/", import.meta.url));
const MODELS = [
  { name: "base-model", dir: shippedModelPath(), tokenizer: join(shippedModelPath(), "tokenizer.json"), task: "home" },
  { name: "stories260K", dir: join(models, "stories260K-hf"), tokenizer: join(models, "stories260K", "tok512.bin"), task: "color" },
];
const TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
const MiB = 2 ** 20;

/** Trains `steps` steps with a ledger; returns the ledger's peak by category and in total. */
async function measuredPeak(dir: string, tokenizerPath: string, task: string, method: "lora" | "lora16" | "qlora", batch: number, seqLen: number, r: number) {
  const tokenizer = await loadTokenizer(tokenizerPath);
  const base = await loadModel(dir);
  const config = { r, lora_alpha: 2 * r, target_modules: TARGETS };
  const model =
    method === "lora" ? toLoraModel(base, config, { seed: 0 }) : method === "lora16" ? toLora16Model(base, config, "bf16", { seed: 0 }) : toQloraModel(base, config, { quantType: "nf4", doubleQuant: true, blocksize: 64 }, { seed: 0 });
  try {
    const ledger = new MemoryLedger();
    // Packed windows make every micro-batch exactly [batch, seqLen]; two steps so the optimizer state exists.
    await train(model, loadTask(task).train, { tokenizer, steps: 2, batchSize: batch, maxLength: seqLen, packing: true, lr: 1e-3, ledger, stopOnSigint: false });
    return ledger.peak();
  } finally {
    model.dispose();
    base.dispose();
  }
}

/** Plans from config.json, trains with a ledger, prints both and checks the total (10 %) and each category. */
async function compare(t: { diagnostic(message: string): void }, m: (typeof MODELS)[number], batch: number, seqLen: number, r: number): Promise<void> {
  const backend = tf.getBackend() as TfjsBackendKind;
  const config = JSON.parse(readFileSync(join(m.dir, "config.json"), "utf8")) as Record<string, unknown>;
  for (const method of ["lora", "lora16", "qlora"] as const) {
    const measured = await measuredPeak(m.dir, m.tokenizer, m.task, method, batch, seqLen, r);
    const planMethod = method === "lora16" ? "lora" : method;
    const plan = planMemory(config, { method: planMethod, baseDtype: method === "lora16" ? "bf16" : undefined, r, targetModules: TARGETS, batch, seqLen, runtime: "tfjs", backend, quantType: "nf4", doubleQuant: true, blocksize: 64 });
    const planned = planByCategory(plan);
    const error = (plan.totalBytes - measured.totalBytes) / measured.totalBytes;
    t.diagnostic(`${m.name} ${method} (${backend}, batch ${batch} x ${seqLen}, r ${r}): planned ${(plan.totalBytes / MiB).toFixed(3)} MiB, ledger peak ${(measured.totalBytes / MiB).toFixed(3)} MiB, error ${(100 * error).toFixed(3)} %`);
    for (const c of MEMORY_CATEGORIES) {
      const p = planned[c] ?? 0;
      if (p === 0 && measured[c] === 0) continue;
      t.diagnostic(`  ${c}: planned ${p} B, ledger ${measured[c]} B`);
    }
    assert.ok(Math.abs(error) < 0.1, `total: planned ${plan.totalBytes} vs measured ${measured.totalBytes}`);
    // Resident categories are exact sizes; the activations are the walk of TF.js's tape (tfjs_tape.ts),
    // which reproduces tf.memory()'s count to a few scalars.
    for (const c of ["base_packed", "quant_constants", "base_dense", "base_16bit", "lora_params", "gradients", "optimizer_resident"] as const) {
      assert.equal(planned[c] ?? 0, measured[c], `${m.name} ${method} ${c}`);
    }
    assert.ok(Math.abs((planned.activations ?? 0) - measured.activations) <= 0.01 * measured.activations, `activations: planned ${planned.activations} vs measured ${measured.activations}`);
    assert.equal(planned.runtime, undefined, "no CUDA term on TF.js");
  }
}

for (const m of MODELS) {
  test(`planner (runtime tfjs) matches the ledger's measured peak: ${m.name}, LoRA (float32 and bfloat16 base) and QLoRA`, { skip: !existsSync(m.dir) && `${m.dir} is not present` }, async (t) => {
    await resolveBackend();
    await compare(t, m, 16, 64, 8);
  });
}

test("planner (runtime tfjs) matches the ledger on the cpu backend (its own RoPE and batched-product paths)", async (t) => {
  await resolveBackend({ force: "cpu" });
  await compare(t, MODELS[0]!, 4, 32, 4);
});

test("planner (runtime tfjs) matches the ledger on a full fine-tune (every weight a variable, tied embedding)", async (t) => {
  await resolveBackend();
  const m = MODELS[0]!;
  const tokenizer = await loadTokenizer(m.tokenizer);
  const model = await loadModel(m.dir, { trainable: "all" });
  try {
    const ledger = new MemoryLedger();
    await train(model, loadTask(m.task).train, { tokenizer, steps: 2, batchSize: 4, maxLength: 32, packing: true, lr: 1e-3, ledger, stopOnSigint: false });
    const measured = ledger.peak();
    const config = JSON.parse(readFileSync(join(m.dir, "config.json"), "utf8")) as Record<string, unknown>;
    const plan = planMemory(config, { method: "full", batch: 4, seqLen: 32, runtime: "tfjs", backend: tf.getBackend() as TfjsBackendKind });
    const planned = planByCategory(plan);
    t.diagnostic(`${m.name} full (${tf.getBackend()}, batch 4 x 32): planned ${plan.totalBytes} B, ledger peak ${measured.totalBytes} B`);
    for (const c of ["base_dense", "gradients", "optimizer_resident"] as const) assert.equal(planned[c], measured[c], c);
    assert.ok(Math.abs(planned.activations! - measured.activations) <= 0.01 * measured.activations, `activations: planned ${planned.activations} vs measured ${measured.activations}`);
  } finally {
    model.dispose();
  }
});

test("planner (runtime tfjs): what lib/train does, and clear errors for what it does not", () => {
  const config = JSON.parse(readFileSync(join(shippedModelPath(), "config.json"), "utf8")) as Record<string, unknown>;
  const plan = planMemory(config, { method: "qlora", runtime: "tfjs" });
  assert.deepEqual([plan.setup.baseDtype, plan.setup.computeDtype, plan.setup.gradientCheckpointing, plan.setup.backend], ["fp32", "fp32", false, "wasm"]);
  assert.ok(!plan.components.some((c) => c.name.startsWith("dequantized weight")), "the dequantized weight is gone before the backward ends");
  // Activations grow with the batch: twice the rows, about twice the bytes (weights saved by matMuls do not grow).
  const acts = (batch: number) => planByCategory(planMemory(config, { method: "lora", runtime: "tfjs", batch, seqLen: 64 })).activations!;
  const ratio = acts(16) / acts(8);
  assert.ok(ratio > 1.9 && ratio < 2, `activations x${ratio.toFixed(3)} for twice the batch`);
  // lib/train's gradientCheckpointing is planned too (planner_checkpointing.test.ts holds it to the ledger): fewer activations, the rest unchanged.
  const checkpointed = planByCategory(planMemory(config, { method: "lora", runtime: "tfjs", batch: 16, seqLen: 64, gradientCheckpointing: true }));
  const plain = planByCategory(planMemory(config, { method: "lora", runtime: "tfjs", batch: 16, seqLen: 64 }));
  assert.ok(checkpointed.activations! < plain.activations!, `activations ${checkpointed.activations} vs ${plain.activations}`);
  assert.equal(checkpointed.gradients, plain.gradients);
  assert.throws(() => planMemory(config, { method: "lora", runtime: "tfjs", computeDtype: "bf16" }), /expected computeDtype fp32 for runtime "tfjs", got bf16/);
  assert.throws(() => planMemory(config, { method: "qlora", runtime: "tfjs", baseDtype: "bf16" }), /expected baseDtype fp32 for method "qlora" on runtime "tfjs", got bf16/);
  assert.throws(() => planMemory(config, { method: "lora", runtime: "tfjs", backend: "webgl" as never }), /expected backend wasm, cpu, tensorflow, got webgl/);
  assert.throws(() => planMemory("7b", { method: "lora", backend: "wasm" }), /expected backend only with runtime "tfjs", got wasm/);
});
