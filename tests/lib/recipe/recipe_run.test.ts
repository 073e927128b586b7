// trainFromRecipe's other paths on the shipped base model: QLoRA (fp4, block 128) with 8-bit AdamW
// state, cosine warmup, accumulation and a held-out fraction; LoRA on a bfloat16 base with packed
// plain text and paged state; and the shipped example recipe, read as YAML with its relative paths.
// Each checks the output folder: the step log's fields, the report's charts, the adapter.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { shippedModelPath } from "../../../lib/data/index.js";
import { readAdapterConfig } from "../../../lib/lora/index.js";
import { trainFromRecipe } from "../../../lib/recipe/index.js";

const color = fileURLToPath(new URL("../../../datasets/tasks/color/train.jsonl", import.meta.url));
const home = fileURLToPath(new URL("../../../datasets/tasks/home/train.jsonl", import.meta.url));
const example = fileURLToPath(new URL("../../../datasets/recipes/home-qlora.yaml", import.meta.url));

function logLines(path: string): Record<string, any>[] {
  return readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l));
}

test("QLoRA fp4 with 8-bit AdamW state, cosine warmup, accumulation and an eval fraction writes its log, report and adapter", { timeout: 120_000 }, async () => {
  await resolveBackend();
  const dir = mkdtempSync(join(tmpdir(), "qlora-recipe-run-"));
  const tensorsBefore = tf.memory().numTensors;
  try {
    const progress: string[] = [];
    const run = await trainFromRecipe(
      {
        model: { path: shippedModelPath() },
        method: "qlora",
        quant: { quant_type: "fp4", double_quant: false, blocksize: 128 },
        lora: { r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: "all-linear" },
        data: { train: color, eval_fraction: 0.1, seq_len: 48 },
        training: { steps: 4, batch_size: 4, gradient_accumulation_steps: 2, seed: 3 },
        optimizer: { lr: 3e-3, state: "8bit" },
        schedule: { kind: "cosine", warmup_steps: 1 },
        eval: { every: 2, batch_size: 8 },
        output: join(dir, "out"),
        run_name: "fp4 run",
      },
      { onProgress: (line) => progress.push(line) },
    );
    const log = logLines(run.outputs.log);
    assert.deepEqual(log.map((l) => l.step), [1, 2, 3, 4]);
    for (const line of log) {
      assert.deepEqual(Object.keys(line), ["step", "loss", "lr", "grad_norm", "tokens_per_second", "elapsed_ms", "memory_bytes", "memory"]);
      assert.ok(line.loss > 0 && line.grad_norm > 0 && line.tokens_per_second > 0 && line.memory.base_packed > 0 && line.memory.lora_params > 0);
    }
    assert.equal(log[0]!.lr, 0, "warmup starts at 0");
    assert.equal(log[1]!.lr, 3e-3, "the peak after one warmup step");
    assert.ok(log[3]!.lr < log[2]!.lr && log[2]!.lr < 3e-3, "then cosine decay");
    assert.deepEqual(run.result.evals.map((e) => e.step), [0, 2, 4]);
    assert.equal(progress.length, 4);
    assert.match(progress[3]!, /^step 4\/4  loss \d+\.\d{4}  [\d,]+ tok\/s  ETA 0s$/);
    const report = readFileSync(run.outputs.report, "utf8");
    assert.equal((report.match(/<svg/g) ?? []).length, 2, "loss and memory charts");
    assert.match(report, /<title>fp4 run<\/title>/);
    const config = readAdapterConfig(run.outputs.adapter);
    assert.deepEqual([config.r, config.lora_alpha, config.lora_dropout], [4, 8, 0.1]);
    assert.equal(tf.memory().numTensors, tensorsBefore, "the model and optimizer are released");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("LoRA on a bfloat16 base with packed plain text and paged AdamW state", { timeout: 120_000 }, async () => {
  await resolveBackend();
  const dir = mkdtempSync(join(tmpdir(), "qlora-recipe-run-"));
  try {
    const text = join(dir, "stories.txt");
    writeFileSync(text, "Tom had a red ball.\n\nThe cat sat on the mat and looked at the sun.\n\nAnn went to the park with her dog.\n".repeat(4));
    const run = await trainFromRecipe({
      model: { path: shippedModelPath() },
      method: "lora",
      base_dtype: "bf16",
      lora: { r: 2, lora_alpha: 4, target_modules: ["q_proj", "v_proj"] },
      data: { train: text, format: "text", packing: true, seq_len: 16, shuffle: false },
      training: { steps: 3, batch_size: 2 },
      optimizer: { lr: 1e-3, state: "paged", state_budget_bytes: 4096, page_bytes: 1024 },
      save: { every: 1, keep: 1 },
      output: join(dir, "out"),
    });
    const log = logLines(run.outputs.log);
    assert.equal(log.length, 3);
    assert.ok(log[0]!.memory.base_16bit > 0 && !log[0]!.memory.base_packed, "a 16-bit base");
    assert.ok(log[0]!.memory.optimizer_paged_out > 0, "optimizer state paged out beyond the budget");
    assert.ok(run.result.checkpoint?.endsWith("step-000003"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the shipped example recipe runs from its YAML file (paths relative to it), with --set overrides", { timeout: 120_000 }, async () => {
  await resolveBackend();
  const dir = mkdtempSync(join(tmpdir(), "qlora-recipe-run-"));
  try {
    const run = await trainFromRecipe(example, { set: ["training.steps=2", "eval.every=1", "save.every=2", `output=${join(dir, "out")}`] });
    assert.equal(run.recipe.data.train, home);
    assert.equal(run.result.stepsDone, 2);
    assert.ok(run.result.evals.length >= 2 && Number.isFinite(run.result.evals[0]!.loss));
    assert.equal(readAdapterConfig(run.outputs.adapter).r, 8);
    assert.equal(JSON.parse(readFileSync(join(run.outputs.dir, "recipe.json"), "utf8")).training.steps, 2, "the resolved recipe is saved beside the run");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a budget the run cannot fit is refused before the model loads, with what would fit; gradient checkpointing trains the same losses", { timeout: 120_000 }, async () => {
  await resolveBackend();
  const dir = mkdtempSync(join(tmpdir(), "qlora-recipe-budget-"));
  try {
    const recipe = (output: string, extra: Record<string, unknown>) => ({
      model: { path: shippedModelPath() },
      method: "lora",
      base_dtype: "bf16",
      data: { train: color, seq_len: 48 },
      training: { steps: 2, batch_size: 4, seed: 1 },
      output: join(dir, output),
      ...extra,
    });
    await assert.rejects(trainFromRecipe(recipe("refused", { budget: "1MiB" })), (e: Error) => {
      assert.match(e.message, /^recipe budget: expected a run that fits the budget of 1 MiB, got .*LoRA \(base in bf16\), batch 4 x 48 tokens.*planned at/);
      return true;
    });
    assert.throws(() => readFileSync(join(dir, "refused", "log.jsonl")), /ENOENT/, "nothing was written");
    const plain = await trainFromRecipe(recipe("plain", { budget: "1GiB" }));
    const checkpointed = await trainFromRecipe(recipe("checkpointed", { training: { steps: 2, batch_size: 4, seed: 1, gradient_checkpointing: true } }));
    assert.deepEqual(checkpointed.result.steps.map((s) => s.loss), plain.result.steps.map((s) => s.loss));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
