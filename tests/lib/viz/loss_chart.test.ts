// The smoothers worked by hand (debiased EMA, centred moving average); the loss chart's data, legend,
// axes and eval marks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { centredMovingAverage, defaultWindow, emaSmooth, lossChartSpec, renderSvg } from "../../../lib/viz/index.js";
import type { EvalRecord, StepRecord } from "../../../lib/train/records.js";
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
  const train = spec.layer[0].data.values;
  assert.equal(train.filter((r) => r.run === "LoRA").length, 50);
  assert.equal(train.filter((r) => r.run === "LoRA").at(-1)!.step, 200, "thinning keeps the last step");
  assert.deepEqual(spec.layer[0].encoding.y.scale, { type: "log" });
  assert.equal(spec.layer.length, 4, "raw, smoothed, one eval layer per run");
  assert.equal(spec.layer[2].data.values.length + spec.layer[3].data.values.length, 16);
  const withZero = lossChartSpec([{ ...steps[0], loss: 0 }, steps[1]], [], { yScale: "log" }) as unknown as { layer: { data: { values: unknown[] } }[] };
  assert.equal(withZero.layer[0].data.values.length, 1);
  assert.throws(() => lossChartSpec("nope" as never), /lossChart: expected steps to be an array/);
});

type Spec = { title: { subtitle: string | string[] }; layer: { data: { values: Record<string, unknown>[] }; mark: { type: string; shape?: string; size?: number }; encoding: Record<string, { scale?: { range?: unknown[] }; axis?: Record<string, unknown> }> }[] };
const subtitleOf = (spec: Spec) => [spec.title.subtitle].flat().join(" | ");

test("centredMovingAverage: hand-worked, windows shrink symmetrically at the ends; defaultWindow follows the run length", () => {
  // width 3 on [1, 2, 6, 3]: ends are themselves; (1+2+6)/3 = 3, (2+6+3)/3 = 11/3.
  const out = centredMovingAverage([1, 2, 6, 3], 3);
  [1, 3, 11 / 3, 3].forEach((v, i) => assert.ok(Math.abs(out[i] - v) < 1e-12, `${out[i]} vs ${v}`));
  // A straight line is its own centred average: no lag, unlike a trailing EMA.
  const line = Array.from({ length: 40 }, (_, i) => 10 - 0.2 * i);
  centredMovingAverage(line, defaultWindow(40)).forEach((v, i) => assert.ok(Math.abs(v - line[i]) < 1e-9));
  assert.ok(emaSmooth(line, 0.9)[39] - line[39] > 1, "the trailing EMA lags a falling line");
  assert.deepEqual([3, 40, 300, 600, 5000].map(defaultWindow), [1, 5, 31, 51, 51]);
  assert.throws(() => centredMovingAverage([1], 2), /centredMovingAverage: expected an odd window >= 1/);
  assert.throws(() => lossChartSpec([], [], { window: 4 }), /lossChart: expected window to be an odd integer >= 1/);
});

test("legend names the smoothing that is drawn, and mentions eval marks only when there are some", () => {
  const { steps, evals } = sampleRuns(40);
  const plain = lossChartSpec(steps.filter((r) => r.run === "QLoRA")) as unknown as Spec;
  assert.match(subtitleOf(plain), /bold: centred 5-step moving average/);
  assert.doesNotMatch(subtitleOf(plain), /eval|dots/);
  assert.equal(plain.layer.length, 2, "no eval layer without eval records");
  const withEval = lossChartSpec(steps.filter((r) => r.run === "QLoRA"), evals.filter((r) => r.run === "QLoRA")) as unknown as Spec;
  assert.match(subtitleOf(withEval), /dots: eval loss/);
  assert.equal(withEval.layer[2].mark.type, "point");
  assert.equal(withEval.layer[2].data.values.length, evals.filter((r) => r.run === "QLoRA").length);
  const ema = lossChartSpec(steps, evals, { smoothing: 0.6 }) as unknown as Spec;
  assert.match(subtitleOf(ema), /bold: trailing EMA 0.6, debiased/);
  const none = lossChartSpec(steps, [], { window: 1 }) as unknown as Spec;
  assert.equal(none.layer.length, 1);
  assert.match(subtitleOf(none), /^line: train loss$/);
});

test("two runs' eval marks differ in shape, the first filled and larger, the second open on top", () => {
  const { steps, evals } = sampleRuns(200);
  const spec = lossChartSpec(steps, evals) as unknown as Spec;
  const [lora, qlora] = [spec.layer[2], spec.layer[3]];
  assert.deepEqual([lora.mark.shape, qlora.mark.shape], ["circle", "square"]);
  assert.ok(lora.data.values.every((r) => r.run === "LoRA") && qlora.data.values.every((r) => r.run === "QLoRA"), "LoRA drawn first, under QLoRA");
  assert.ok(lora.mark.size! > qlora.mark.size!, `sizes ${lora.mark.size}, ${qlora.mark.size}`);
  assert.equal((qlora.mark as { filled?: boolean }).filled, false, "the later run's marks are open, the first run's show through");
  assert.match(subtitleOf(spec), /marks: eval loss \(LoRA circle, QLoRA square\)/);
});

test("x tick labels never touch: at most one per 80 px, overlapping ones dropped (rendered SVG)", () => {
  const steps: StepRecord[] = [];
  const evals: EvalRecord[] = [];
  for (const run of ["LoRA", "QLoRA"]) for (let s = 1; s <= 600; s++) steps.push({ run, step: s, loss: 2 + Math.exp(-s / 100), lr: 1e-3, gradNorm: 1, tokensPerSecond: 1000, elapsedMs: s * 200 });
  for (const run of ["LoRA", "QLoRA"]) for (const s of [0, 300, 600]) evals.push({ run, step: s, loss: 2.1, perplexity: 8, elapsedMs: s * 200 });
  const spec = lossChartSpec(steps, evals, { width: 560 }) as unknown as Spec;
  assert.equal(spec.layer[0].encoding.x.axis!.labelOverlap, "greedy");
  const svg = renderSvg(spec as never);
  // Vega draws axis labels as <text> in the x axis group; collect the numeric ones with their x positions.
  const labels = [...svg.matchAll(/<text[^>]*transform="translate\(([\d.-]+),[\d.-]+\)"[^>]*>(\d+)<\/text>/g)].map((m) => ({ x: Number(m[1]), text: m[2] }));
  const xLabels = labels.filter((l) => Number(l.text) % 100 === 0 && Number(l.text) <= 600);
  assert.ok(xLabels.length >= 3 && xLabels.length <= 8, `x labels: ${xLabels.map((l) => l.text).join(" ")}`);
  const xs = xLabels.map((l) => l.x).sort((a, b) => a - b);
  for (let i = 1; i < xs.length; i++) assert.ok(xs[i] - xs[i - 1] >= 40, `labels ${xs[i - 1]} and ${xs[i]} too close`);
});
