// Loss curves: raw train loss (faint), its debiased EMA (bold), eval loss (points), several runs
// overlaid; linear or log y, step or wall time on x. EMA with debias as in TensorBoard's smoothing.
import type { EvalRecord, StepRecord } from "../train/records.js";
import { InvalidArgumentError, expected } from "../errors.js";
import { Chart, topLevelSpec } from "./chart.js";
import { formatNumber } from "../format.js";
import { RUN_COLORS, colorScale } from "./palette.js";
import { requireArray } from "../validate.js";

/** Options of {@link lossChart}. */
export interface LossChartOptions {
  /** EMA weight of the past, in [0, 1): 0 = no smoothing. Default 0.9. */
  smoothing?: number;
  /** "linear" (default) or "log" loss axis. */
  yScale?: "linear" | "log";
  /** "step" (default) or "time" (wall time since each run started). */
  x?: "step" | "time";
  title?: string;
  /** Shown under the title (the live chart puts its progress line here). */
  subtitle?: string;
  width?: number;
  height?: number;
  /** Most raw points drawn per run (evenly thinned beyond; the EMA uses every point). Default 1000. */
  maxPoints?: number;
}

/** Debiased exponential moving average: s_t = b*s_{t-1} + (1-b)*x_t, reported as s_t / (1 - b^t). */
export function emaSmooth(values: ArrayLike<number>, smoothing: number): number[] {
  if (!(smoothing >= 0 && smoothing < 1)) throw new InvalidArgumentError("emaSmooth", expected("smoothing in [0, 1)", smoothing));
  const out: number[] = [];
  let s = 0;
  let weight = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (!Number.isFinite(x)) {
      out.push(weight > 0 ? s / weight : Number.NaN);
      continue;
    }
    s = smoothing * s + (1 - smoothing) * x;
    weight = smoothing * weight + (1 - smoothing);
    out.push(s / weight);
  }
  return out;
}

/** Indices 0..n-1 thinned evenly to at most `max`, always keeping the last. */
export function thinIndices(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const stride = (n - 1) / (max - 1);
  const out: number[] = [];
  for (let k = 0; k < max; k++) out.push(Math.round(k * stride));
  return [...new Set(out)];
}

interface RunSeries {
  run: string;
  steps: StepRecord[];
  evals: EvalRecord[];
}

/** Groups records by run in order of first appearance, each sorted by step. */
function groupRuns(steps: readonly StepRecord[], evals: readonly EvalRecord[]): RunSeries[] {
  const runs = new Map<string, RunSeries>();
  const get = (run: string) => {
    let series = runs.get(run);
    if (!series) runs.set(run, (series = { run, steps: [], evals: [] }));
    return series;
  };
  for (const r of steps) get(String(r.run)).steps.push(r);
  for (const r of evals) get(String(r.run)).evals.push(r);
  for (const series of runs.values()) {
    series.steps.sort((a, b) => a.step - b.step);
    series.evals.sort((a, b) => a.step - b.step);
  }
  return [...runs.values()];
}

/** The Vega-Lite spec of a loss chart (pure: same records, same spec). */
export function lossChartSpec(steps: readonly StepRecord[], evals: readonly EvalRecord[] = [], options: LossChartOptions = {}): ReturnType<typeof topLevelSpec> {
  requireArray("lossChart", "steps", steps);
  requireArray("lossChart", "evals", evals);
  const smoothing = options.smoothing ?? 0.9;
  const logY = options.yScale === "log";
  const byTime = options.x === "time";
  const maxPoints = Math.max(2, options.maxPoints ?? 1000);
  const runs = groupRuns(steps, evals);
  const train: Record<string, unknown>[] = [];
  const evalRows: Record<string, unknown>[] = [];
  const usable = (loss: number) => Number.isFinite(loss) && (!logY || loss > 0);
  for (const { run, steps: s, evals: e } of runs) {
    const kept = s.filter((r) => usable(r.loss));
    const smooth = emaSmooth(kept.map((r) => r.loss), smoothing);
    for (const i of thinIndices(kept.length, maxPoints)) {
      const r = kept[i];
      train.push({ run, step: r.step, time: r.elapsedMs / 1000, loss: r.loss, smoothed: smooth[i] });
    }
    for (const r of e) if (usable(r.loss)) evalRows.push({ run, step: r.step, time: r.elapsedMs / 1000, loss: r.loss, perplexity: r.perplexity });
  }
  const x = byTime ? { field: "time", type: "quantitative", title: "wall time (s)" } : { field: "step", type: "quantitative", title: "training step", axis: { tickMinStep: 1 } };
  const y = { type: "quantitative", title: logY ? "loss (log scale)" : "loss", scale: logY ? { type: "log" } : { zero: false } };
  const color = {
    field: "run",
    type: "nominal",
    title: "run",
    scale: colorScale(runs.map((r) => r.run), RUN_COLORS),
    legend: { symbolType: "stroke", symbolOpacity: 1, symbolStrokeWidth: 3 },
  };
  const legend = smoothing > 0 ? `faint: raw train loss, bold: moving average (EMA ${smoothing}, debiased), dots: eval loss` : "line: train loss, dots: eval loss";
  const subtitle = options.subtitle ? [options.subtitle, legend] : legend;
  const layers: Record<string, unknown>[] = [
    { data: { values: train }, mark: { type: "line", opacity: smoothing > 0 ? 0.3 : 1, strokeWidth: 1 }, encoding: { x, y: { ...y, field: "loss" }, color, detail: { field: "run" } } },
  ];
  if (smoothing > 0)
    layers.push({
      data: { values: train },
      mark: { type: "line", strokeWidth: 2.5 },
      encoding: {
        x,
        y: { ...y, field: "smoothed" },
        color,
        tooltip: [{ field: "run" }, { field: "step", type: "quantitative" }, { field: "loss", type: "quantitative", format: ".4f" }, { field: "smoothed", type: "quantitative", format: ".4f", title: "EMA" }],
      },
    });
  layers.push({
    data: { values: evalRows },
    mark: { type: "point", filled: true, size: 70, stroke: "white", strokeWidth: 1, opacity: 1 },
    encoding: {
      x,
      y: { ...y, field: "loss" },
      color,
      tooltip: [{ field: "run" }, { field: "step", type: "quantitative" }, { field: "loss", type: "quantitative", format: ".4f", title: "eval loss" }, { field: "perplexity", type: "quantitative", format: ".2f" }],
    },
  });
  return topLevelSpec({
    title: { text: options.title ?? "Training loss", subtitle },
    width: options.width ?? 560,
    height: options.height ?? 300,
    layer: layers,
    resolve: { scale: { y: "shared" } },
  });
}

/** A one-line description of the runs' final losses. */
function lossSummary(steps: readonly StepRecord[], evals: readonly EvalRecord[], smoothing: number): string {
  const runs = groupRuns(steps, evals);
  if (runs.length === 0) return "Loss chart: no records yet";
  const parts = runs.map(({ run, steps: s, evals: e }) => {
    const losses = s.map((r) => r.loss).filter(Number.isFinite);
    const ema = emaSmooth(losses, smoothing);
    const last = s[s.length - 1];
    const bits = [`${run}: ${s.length} steps`];
    if (last) bits.push(`last step ${last.step}, loss ${formatNumber(last.loss)} (EMA ${formatNumber(ema[ema.length - 1] ?? Number.NaN)})`);
    const lastEval = e[e.length - 1];
    if (lastEval) bits.push(`eval loss ${formatNumber(lastEval.loss)} at step ${lastEval.step}`);
    return bits.join(", ");
  });
  return `Loss chart (${runs.length} run${runs.length === 1 ? "" : "s"}): ${parts.join("; ")}`;
}

/** Loss curves of one or several runs (train loss, its debiased EMA, eval points), as a displayable chart. */
export function lossChart(steps: readonly StepRecord[], evals: readonly EvalRecord[] = [], options: LossChartOptions = {}): Chart {
  const spec = lossChartSpec(steps, evals, options);
  return new Chart(spec, lossSummary(steps, evals, options.smoothing ?? 0.9));
}
