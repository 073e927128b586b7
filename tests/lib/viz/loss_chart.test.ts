// EMA smoothing with debias, worked by hand; the loss chart's data and options.
import { test } from "node:test";
import assert from "node:assert/strict";
import { emaSmooth, lossChartSpec } from "../../../lib/viz/index.js";
import { sampleRuns } from "./samples.js";

test("emaSmooth: hand-worked debiased EMA", () => {
  // b = 0.5: s = 0.5, 1.25, 2.125; weights 0.5, 0.75, 0.875 -> 1, 5/3, 17/7.
  const out = emaSmooth([1, 2, 3], 0.5);
  [1, 5 / 3, 17 / 7].forEach((v, i) => assert.ok(Math.abs(out[i] - v) < 1e-12, `${out[i]} vs ${v}`));
  assert.deepEqual(emaSmooth([4, 4, 4, 4], 0.99), [4, 4, 4, 4], "debias: a constant stays constant from the first point");
  assert.deepEqual(emaSmooth([1, 2], 0), [1, 2]);
  assert.throws(() => emaSmooth([1], 1), /emaSmooth: expected smoothing in \[0, 1\)/);
});

test("lossChartSpec: raw, smoothed and eval layers per run; log scale drops non-positive losses; points capped", () => {
  const { steps, evals } = sampleRuns(200);
  const spec = lossChartSpec(steps, evals, { maxPoints: 50, yScale: "log" }) as unknown as { layer: { data: { values: Record<string, unknown>[] }; encoding: { y: { scale: unknown } } }[] };
  assert.equal(spec.layer.length, 3);
  const train = spec.layer[0].data.values;
  assert.equal(train.filter((r) => r.run === "LoRA").length, 50);
  assert.equal(train.filter((r) => r.run === "LoRA").at(-1)!.step, 200, "thinning keeps the last step");
  assert.deepEqual(spec.layer[0].encoding.y.scale, { type: "log" });
  assert.equal(spec.layer[2].data.values.length, 16);
  const withZero = lossChartSpec([{ ...steps[0], loss: 0 }, steps[1]], [], { yScale: "log" }) as unknown as { layer: { data: { values: unknown[] } }[] };
  assert.equal(withZero.layer[0].data.values.length, 1);
  assert.throws(() => lossChartSpec("nope" as never), /lossChart: expected steps to be an array/);
});
