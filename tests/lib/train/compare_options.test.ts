// compareLoraQlora's QLoRA quantization and optimizer-state options, on a few steps of the shipped
// base: without double quantization the scales stay float32 (fewer bytes on a model this small, and
// the label says so); paged state keeps at most its budget on the backend and ends at the same loss
// as resident state.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { resolveBackend } from "../../../lib/backend.js";
import { shippedModelPath } from "../../../lib/data/index.js";
import { compareLoraQlora, type CompareOptions } from "../../../lib/train/index.js";

const hasModel = existsSync(`${shippedModelPath()}/model.safetensors`);

test("compareLoraQlora: qloraQuant turns double quantization off, optimizerState pages AdamW's state without changing the loss", { skip: !hasModel && "datasets/base-model is not built" }, async () => {
  await resolveBackend();
  const quick: CompareOptions = { task: "color", modes: ["qlora"], steps: 4, batchSize: 4, evalExamples: 8, metricExamples: 1, evalEvery: 4, inferenceTokens: 2 };
  const run = async (options: CompareOptions) => (await compareLoraQlora({ ...quick, ...options })).runs[0]!;
  const dq = await run({});
  const noDq = await run({ qloraQuant: { doubleQuant: false } });
  assert.equal(dq.basePrecision, "NF4 + double quant (blocksize 64)");
  assert.equal(noDq.basePrecision, "NF4 (blocksize 64)");
  assert.notEqual(noDq.linearBaseBytes, dq.linearBaseBytes);
  const stateBytes = dq.peakMemory.optimizer_resident!;
  const budgetBytes = Math.floor(stateBytes / 4);
  const paged = await run({ optimizerState: { kind: "paged", budgetBytes, pageBytes: 16 * 1024 } });
  assert.ok(paged.peakMemory.optimizer_resident! <= budgetBytes, `${paged.peakMemory.optimizer_resident} <= ${budgetBytes}`);
  assert.ok(paged.peakMemory.optimizer_paged_out! > 0);
  assert.equal(paged.evalLossAfter, dq.evalLossAfter);
});
