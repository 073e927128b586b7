// Sample records for the lib/viz tests and benchmark: deterministic, shaped like what the
// training loop, the memory ledger/planner and the quantizer produce.
import type { StepRecord, EvalRecord } from "../../../lib/train/records.js";
import type { Chart } from "../../../lib/viz/chart.js";
import {
  blockErrorChart,
  codeUsageChart,
  layerMemoryChart,
  lossChart,
  memoryChart,
  memoryTimelineChart,
  mergeComparison,
  pagingChart,
  panel,
  plannerChart,
  quantHistogramChart,
} from "../../../lib/viz/index.js";
import { CODEBOOKS } from "../../../lib/quant/codebooks.js";
import type { LayerMemoryRow, MemoryTimelinePoint, PlannerRow } from "../../../lib/viz/index.js";

const GiB = 2 ** 30;

/** A seeded uniform generator in [0, 1). */
export function seeded(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 16807) % 2147483647) / 2147483647;
}

/** Two runs (LoRA, QLoRA) of `steps` steps with eval every 25. */
export function sampleRuns(steps = 200): { steps: StepRecord[]; evals: EvalRecord[] } {
  const rnd = seeded(7);
  const out: StepRecord[] = [];
  const evals: EvalRecord[] = [];
  for (const run of ["LoRA", "QLoRA"])
    for (let step = 1; step <= steps; step++) {
      const base = 3.2 * Math.exp(-step / 60) + 1.1 + (run === "QLoRA" ? 0.05 : 0);
      out.push({ run, step, loss: base + (rnd() - 0.5) * 0.4, lr: 2e-4, gradNorm: 1, tokensPerSecond: 900, elapsedMs: step * 120 });
      if (step % 25 === 0) evals.push({ run, step, loss: base + 0.1, perplexity: Math.exp(base + 0.1), elapsedMs: step * 120 });
    }
  return { steps: out, evals };
}

/** The NF4 code book (QLoRA appendix E). */
export const NF4 = [
  -1, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1,
];
/** Symmetric INT4 levels k/7. */
export const INT4 = Array.from({ length: 15 }, (_, i) => (i - 7) / 7);

/** Gaussian weights (Box-Muller), std 0.02. */
export function sampleWeights(n: number): Float32Array {
  const rnd = seeded(3);
  return new Float32Array(n).map(() => 0.02 * Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd()));
}

/** Planner rows for 7B/13B/70B x Full/LoRA/QLoRA (rough QLoRA-paper magnitudes). */
export function samplePlanner(): PlannerRow[] {
  const rows: PlannerRow[] = [];
  for (const [model, p] of [["7B", 7], ["13B", 13], ["70B", 70]] as const) {
    rows.push({ model, method: "Full", bytesByCategory: { base_dense: p * 2 * GiB, gradients: p * 2 * GiB, optimizer_resident: p * 8 * GiB, activations: 2 * GiB } });
    rows.push({ model, method: "LoRA", bytesByCategory: { base_dense: p * 2 * GiB, lora_params: 0.02 * p * GiB, optimizer_resident: 0.05 * p * GiB, activations: 2 * GiB } });
    rows.push({ model, method: "QLoRA", bytesByCategory: { base_packed: p * 0.5 * GiB, quant_constants: p * 0.03 * GiB, lora_params: 0.02 * p * GiB, optimizer_resident: 0.05 * p * GiB, activations: 2 * GiB } });
  }
  return rows;
}

/** One chart of every kind, with strings each chart's SVG must contain (titles, axis titles). */
export function sampleCharts(): { name: string; chart: Chart; texts: string[] }[] {
  const { steps, evals } = sampleRuns();
  const lora = { label: "LoRA", bytesByCategory: { base_dense: 13.5 * GiB, lora_params: 0.08 * GiB, gradients: 0.08 * GiB, optimizer_resident: 0.16 * GiB, activations: 2.1 * GiB } };
  const qlora = { label: "QLoRA", bytesByCategory: { base_packed: 3.4 * GiB, quant_constants: 0.1 * GiB, lora_params: 0.08 * GiB, gradients: 0.08 * GiB, optimizer_paged_out: 0.16 * GiB, activations: 2.1 * GiB } };
  const timeline: MemoryTimelinePoint[] = [];
  let t = 0;
  for (const [phase, n] of [["forward", 6], ["backward", 6], ["optimizer", 2]] as const)
    for (let i = 0; i < n; i++) {
      const act = phase === "forward" ? (i + 1) * 0.2 * GiB : phase === "backward" ? (6 - i) * 0.2 * GiB : 0;
      timeline.push({ t: (t += 5), phase, bytesByCategory: { base_packed: 3.4 * GiB, quant_constants: 0.1 * GiB, lora_params: 0.08 * GiB, activations: act, gradients: phase === "forward" ? 0 : 0.08 * GiB } });
    }
  const layers: LayerMemoryRow[] = [];
  for (let layer = 0; layer < 6; layer++)
    for (const [component, bytes] of [["q_proj", 8e6], ["k_proj", 2e6], ["v_proj", 2e6], ["o_proj", 8e6], ["gate_proj", 22e6], ["up_proj", 22e6], ["down_proj", 22e6], ["lora_A+B", 0.2e6]] as const)
      layers.push({ layer, component, bytes });
  const weights = sampleWeights(16384);
  const rnd = seeded(11);
  const merge = mergeComparison(
    [
      { method: "separate", maxAbsLogitDiff: 0, meanAbsLogitDiff: 0, perplexity: 12.31, greedyAgreement: 1, tokensPerSecond: 41.2, tokensPerSecondRange: [38, 44], residentBytes: 2.1e7 },
      { method: "merged-fp32", maxAbsLogitDiff: 3e-5, meanAbsLogitDiff: 4e-6, perplexity: 12.31, greedyAgreement: 1, tokensPerSecond: 55, tokensPerSecondRange: [50, 61], residentBytes: 6.4e7 },
      { method: "merged-4bit", maxAbsLogitDiff: 0.41, meanAbsLogitDiff: 0.052, perplexity: 12.9, greedyAgreement: 0.83, tokensPerSecond: 52.3, tokensPerSecondRange: [100, 120], residentBytes: 1.9e7 },
      { method: "base, no adapter", maxAbsLogitDiff: 2.2, meanAbsLogitDiff: 0.3, perplexity: 14.2, greedyAgreement: 0.4, tokensPerSecond: 60, tokensPerSecondRange: [57, 63], residentBytes: 1.9e7 },
    ],
    Array.from({ length: 8 }, (_, i) => ({ layer: `model.layers.${i >> 1}.self_attn.${i % 2 ? "v" : "q"}_proj`, survival: 0.3 + 0.08 * i, deltaError: 0.5 + 0.1 * i, deltaOutputError: 0.6 + 0.1 * i })),
  );
  const paging = Array.from({ length: 30 }, (_, i) => {
    const burst = (i + 1) % 5 === 0;
    return { step: i + 1, pagesIn: burst ? 12 : 2, pagesOut: burst ? 10 : 1, bytesIn: (burst ? 12 : 2) * 2 ** 20, bytesOut: (burst ? 10 : 1) * 2 ** 20, stepMs: burst ? 140 : 100 };
  });
  const loss = lossChart(steps, evals);
  const memory = memoryChart([lora, qlora], { budgetBytes: 16 * GiB, budgetLabel: "16 GB GPU" });
  return [
    { name: "loss", chart: loss, texts: ["Training loss", "training step", "loss", "LoRA", "QLoRA"] },
    { name: "loss-log-time", chart: lossChart(steps, evals, { yScale: "log", x: "time", smoothing: 0.6 }), texts: ["wall time (s)", "loss (log scale)"] },
    { name: "memory", chart: memory, texts: ["Where the memory goes", "bytes (GiB)", "solid: on the device, pale: on the host", "16 GB GPU", "LoRA A and B", "on host"] },
    {
      name: "memory-long-labels",
      // Setup names wider than their band wrap onto two lines instead of overprinting each other.
      chart: memoryChart([{ ...lora, label: "LoRA, float32 base, tables per tensor" }, { ...qlora, label: "QLoRA, NF4 base, tables shared" }]),
      texts: ["LoRA, float32 base,", "tables per tensor", "QLoRA, NF4 base,", "tables shared"],
    },
    { name: "timeline", chart: memoryTimelineChart(timeline, { budgetBytes: 6 * GiB }), texts: ["Memory during one training step", "time in the step (ms)", "backward", "activations", "device budget", "6 GiB"] },
    { name: "layers", chart: layerMemoryChart(layers), texts: ["Memory per layer and component", "component", "layer", "gate_proj"] },
    { name: "planner", chart: plannerChart(samplePlanner()), texts: ["Where fine-tuning fits", "memory tier", "80 GiB", "70B QLoRA", "estimated memory (GiB; symlog axis"] },
    {
      name: "histogram",
      chart: quantHistogramChart(weights, [{ name: "nf4", levels: NF4 }, { name: "fp4", levels: CODEBOOKS.fp4 }, { name: "int4", levels: INT4 }]),
      // FP4's +0 and -0 are one level, and its three levels around 0 are closer than a pixel apart: both are said.
      texts: ["Weights and the 4-bit code book", "NF4: 16 levels", "FP4: 16 codes, 15 distinct levels (0 coded twice)", "3 levels drawn as one line", "INT4: 15 levels", "weights", "absmax of its block of 64"],
    },
    {
      name: "block-error",
      chart: blockErrorChart([{ name: "nf4", errors: Array.from({ length: 600 }, () => 0.0012 * (0.8 + 0.4 * rnd())) }, { name: "int4", errors: Array.from({ length: 600 }, () => 0.0018 * (0.8 + 0.4 * rnd())) }]),
      texts: ["Quantization error per block", "block index", "nf4"],
    },
    {
      name: "code-usage",
      chart: codeUsageChart([{ name: "nf4", counts: Array.from({ length: 16 }, () => 1000 + Math.round(300 * rnd())), levels: NF4 }, { name: "int4", counts: Array.from({ length: 16 }, (_, c) => Math.round(1000 * Math.exp(-((c - 7.5) ** 2) / 8))) }]),
      texts: ["How often each 4-bit code is used", "fraction of weights", "4-bit code"],
    },
    { name: "merge", chart: merge.chart, texts: ["Separate adapter vs merged", "perplexity", "axis does not start at 0", "greedy tokens agreeing", "merged-4bit", "base, no adapter", "survives requantization", "noise requantizing adds", "1 q_proj", "min-max of repeats"] },
    { name: "paging-step-times", chart: pagingChart(paging.map((r) => ({ ...r, pagingMs: 2 })), { stepTimes: paging.map((r) => ({ step: r.step, ms: 3 * r.stepMs })) }), texts: ["whole training step", "paging in it", "forward + backward + optimizer"] },
    { name: "memory-host", chart: memoryChart([{ label: "paged", bytesByCategory: { optimizer_resident: 216 * 1024, optimizer_paged_out: 648 * 1024 } }], { budgetBytes: 216 * 1024 }), texts: ["216 KiB on device", "+ 648 KiB on host", "device budget", "pale: on the host"] },
    { name: "paging", chart: pagingChart(paging), texts: ["Optimizer paging per step", "training step", "ms per step", "optimizer update", "bytes moved (MiB)"] },
    { name: "panel", chart: panel([loss, memory], { direction: "horizontal", title: "Run overview" }), texts: ["Run overview", "Training loss", "Where the memory goes"] },
  ];
}
