// The done-when of the comparison on the shipped base model and task: LoRA and QLoRA both move the
// task metric from near zero to well above chance, QLoRA's eval loss is within 1 % of LoRA's, and
// QLoRA's quantized projection weights take under 30 % of LoRA's bytes. Sized for two CPU cores.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { resolveBackend } from "../../../lib/backend.js";
import { shippedModelPath } from "../../../lib/data/index.js";
import { compareLoraQlora } from "../../../lib/train/index.js";
import { formatCompareReport } from "../../../cli/compare.js";

const hasModel = existsSync(`${shippedModelPath()}/model.safetensors`);

test("LoRA and QLoRA on the shipped task: metric from ~0 to well above chance, QLoRA loss within 1 %, base < 30 %", { skip: !hasModel && "datasets/base-model is not built" }, async (t) => {
  await resolveBackend();
  const report = await compareLoraQlora({ task: "qa", steps: 40, seed: 0, evalExamples: 48, metricExamples: 40, inferenceTokens: 8 });
  t.diagnostic(formatCompareReport(report));
  const chance = 1 / 3; // answering one of the scene's three names at random
  for (const run of report.runs) {
    assert.ok(run.metricBefore <= 0.1, `${run.name}: metric before ${run.metricBefore}`);
    assert.ok(run.metricAfter >= chance + 0.25, `${run.name}: metric after ${run.metricAfter} (chance ${chance.toFixed(2)})`);
    assert.ok(run.evalLossAfter < run.evalLossBefore);
  }
  assert.ok(Math.abs(report.evalLossGapPercent!) < 1, `QLoRA eval loss differs from LoRA's by ${report.evalLossGapPercent!.toFixed(3)} %`);
  assert.ok(report.linearBaseBytesPercent! < 30, `QLoRA projections: ${report.linearBaseBytesPercent!.toFixed(1)} % of LoRA's bytes`);
  const [lora, qlora] = report.runs;
  assert.equal(lora!.bitsPerLinearParameter, 32);
  assert.ok(qlora!.bitsPerLinearParameter < 6, `QLoRA ${qlora!.bitsPerLinearParameter.toFixed(2)} bits per projection parameter`);
  assert.ok(qlora!.peakMemory.base_packed! > 0 && !lora!.peakMemory.base_packed);
});
