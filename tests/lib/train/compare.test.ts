// The done-when of the comparison on the shipped base model and task ("home"): LoRA and QLoRA both
// move the task metric from near zero to well above chance, QLoRA's quantized projection weights
// take under 30 % of 16-bit LoRA's bytes, and once both runs have converged QLoRA's eval loss is within 1 %
// of LoRA's. The defaults of `qlora-lab compare` (600 steps, batch 16, constant lr 5e-3 after a 10 %
// warmup) run here once, with the loss on the whole 200-example eval split: the suite's longest test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { resolveBackend } from "../../../lib/backend.js";
import { loadTask, shippedModelPath, type PromptExample } from "../../../lib/data/index.js";
import { findTokenizerFor, loadModel, loadTokenizer, readCheckpoint } from "../../../lib/model/index.js";
import { compareLoraQlora, train } from "../../../lib/train/index.js";
import { formatCompareReport } from "../../../cli/compare.js";

const hasModel = existsSync(`${shippedModelPath()}/model.safetensors`);

test("LoRA and QLoRA on the shipped task: metric from ~0 to well above chance, converged QLoRA eval loss within 1 % of LoRA's, base < 30 %", { skip: !hasModel && "datasets/base-model is not built" }, async (t) => {
  await resolveBackend();
  const report = await compareLoraQlora({ metricExamples: 40, inferenceTokens: 8 });
  for (const line of formatCompareReport(report).split("\n")) t.diagnostic(line);
  const chance = 1 / 16; // naming one of the grammar's 16 places at random
  for (const run of report.runs) {
    assert.ok(run.metricBefore <= 0.05, `${run.name}: metric before ${run.metricBefore}`);
    assert.ok(run.metricAfter >= chance + 0.4, `${run.name}: metric after ${run.metricAfter} (chance ${chance.toFixed(2)})`);
    assert.ok(run.evalLossAfter < run.evalLossBefore / 4, `${run.name}: eval loss ${run.evalLossBefore} -> ${run.evalLossAfter}`);
  }
  // Quantizing the base alone costs little: before training the gap is about +2 % on the task's
  // (never-seen) format, and 0.04 % on held-out stories.
  assert.ok(Math.abs(report.evalLossGapBeforePercent!) < 5, `before training, QLoRA eval loss differs by ${report.evalLossGapBeforePercent!.toFixed(2)} %`);
  // Midway, which run is ahead depends on where each is on its learning curve (gaps of -12 % to +6 %
  // were measured at 300 steps). Both runs end on the same plateau (about 1.017): LoRA's adapters
  // cannot move the frozen, tied embedding, whose place words are nearly parallel (cosine ~0.93), so
  // the answer's probability saturates near 0.3; full fine-tuning of the same model reaches 0.002. The
  // 4-bit base does not touch the embedding, so QLoRA saturates at the same loss.
  assert.ok(report.converged, `runs not converged: eval loss moved ${report.runs.map((r) => `${r.name} ${r.evalLossLastChangePercent?.toFixed(2)} %`).join(", ")} over the last interval`);
  assert.ok(Math.abs(report.evalLossGapPercent!) < 1, `QLoRA eval loss differs from LoRA's by ${report.evalLossGapPercent!.toFixed(2)} %`);
  assert.ok(report.linearBaseBytesPercent! < 30, `QLoRA projections: ${report.linearBaseBytesPercent!.toFixed(1)} % of LoRA's bytes`);
  const [lora, qlora] = report.runs;
  assert.equal(lora!.basePrecision, "bfloat16", "the LoRA baseline is 16-bit, as the article's");
  assert.equal(lora!.bitsPerLinearParameter, 16);
  assert.ok(qlora!.bitsPerLinearParameter < 6, `QLoRA ${qlora!.bitsPerLinearParameter.toFixed(2)} bits per projection parameter`);
  assert.ok(qlora!.peakMemory.base_packed! > 0 && !lora!.peakMemory.base_packed);
});

// Why both runs level off near 1.0: the plateau belongs to LoRA on this model, not to the data. The
// adapters cannot change the frozen, tied embedding, in which the task's answers point almost the same
// way, so no adapter makes one place much likelier than the others; training every weight of the same
// model (embedding included) learns the task almost perfectly.
test("the LoRA plateau on the shipped task: near-parallel answer embeddings, and full fine-tuning goes far below it", { skip: !hasModel && "datasets/base-model is not built" }, async (t) => {
  await resolveBackend();
  const { config, weights } = readCheckpoint(shippedModelPath());
  const tokenizer = await loadTokenizer(findTokenizerFor(shippedModelPath())!);
  const embedding = weights.get("model.embed_tokens.weight")!; // [V, C], also the output head (tied)
  const gain = weights.get("model.norm.weight")!; // [C]: logits = normalized(h) . (gain * embedding row)
  const C = config.hiddenSize;
  // The place words that are one token each (" house" is " h" + "ouse").
  const answers = [...new Set(loadTask("home").train.map((e) => (e as PromptExample).response))].filter((a) => tokenizer.encode(a, { bos: false }).length === 1);
  const rows = answers.map((a) => {
    const id = tokenizer.encode(a, { bos: false })[0]!;
    return embedding.subarray(id * C, (id + 1) * C).map((x, i) => x * gain[i]!); // the head row the answer's logit reads
  });
  const cosine = (a: Float32Array, b: Float32Array) => {
    let ab = 0, aa = 0, bb = 0;
    for (let i = 0; i < C; i++) (ab += a[i]! * b[i]!), (aa += a[i]! ** 2), (bb += b[i]! ** 2);
    return ab / Math.sqrt(aa * bb);
  };
  const pairs = rows.flatMap((a, i) => rows.slice(i + 1).map((b) => cosine(a, b)));
  const meanCosine = pairs.reduce((s, x) => s + x, 0) / pairs.length;
  t.diagnostic(`mean cosine similarity of the ${answers.length} one-token answers' output-head rows: ${meanCosine.toFixed(3)}`);
  assert.ok(meanCosine > 0.85, `answer embeddings are nearly parallel (mean cosine ${meanCosine.toFixed(3)})`);

  const task = loadTask("home");
  const model = await loadModel(shippedModelPath(), { trainable: "all" });
  try {
    const result = await train(model, task.train, { tokenizer, steps: 200, batchSize: 16, lr: 1e-3, seed: 0, maxGradNorm: 0.3, eval: { examples: task.eval } });
    const loss = result.evals[result.evals.length - 1]!.loss;
    t.diagnostic(`full fine-tune, 200 steps: eval loss ${result.evals[0]!.loss.toFixed(4)} -> ${loss.toFixed(4)}`);
    assert.ok(loss < 0.1, `full fine-tuning reaches eval loss ${loss} (LoRA's plateau is about 1.0)`);
  } finally {
    model.dispose();
  }
});
