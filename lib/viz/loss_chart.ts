// Loss curves: raw train loss (faint), a smoothed line (bold), eval loss (points), several runs
// overlaid; linear or log y, step or wall time on x. The default smoothing is a centred moving
// average whose window follows the run's length, so a short run's line does not lag behind its
// points; a trailing EMA (debiased, as TensorBoard smooths) is there on request.
import type { EvalRecord, StepRecord } from "../train/records.js";
import { InvalidArgumentError, expected } from "../errors.js";
import { Chart, topLevelSpec } from "./chart.js";
import { formatNumber } from "../format.js";
import { RUN_COLORS, colorScale } from "./palette.js";
import { requireArray } from "../validate.js";

/** Options of {@link lossChart}. */
export interface LossChartOptions {
  /** Trailing EMA weight of the past, in [0, 1): 0 = no smoothing. Unset: a centred moving average (see `window`). */
  smoothing?: number;
  /** Width in steps of the centred moving average (odd; 1 = none). Default: about a tenth of the run, 3 to 51. */
  window?: number;
  /** "linear" (default) or "log" loss axis. */
  yScale?: "linear" | "log";
  /** "step" (default) or "time" (wall time since each run started). */
  x?: "step" | "time";
  title?: string;
  /** Shown under the title, one line per string (the live chart puts its progress here). */
  subtitle?: string | readonly string[];
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

/** The centred moving-average width used for a run of `n` points: about n/10, odd, from 3 to 51 (1 below 5 points). */
export function defaultWindow(n: number): number {
  if (n < 5) return 1;
  const w = Math.min(51, Math.max(3, Math.round(n / 10)));
  return w % 2 === 1 ? w : w + 1;
}

/** Centred moving average of width `window` (odd); near the ends the window shrinks symmetrically, so
 *  the line never lags: at the first and last point it is the point itself. Non-finite values are skipped. */
export function centredMovingAverage(values: ArrayLike<number>, window: number): number[] {
  if (!(Number.isInteger(window) && window >= 1 && window % 2 === 1)) throw new InvalidArgumentError("centredMovingAverage", expected("an odd window >= 1", window));
  const half = (window - 1) / 2;
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const h = Math.min(half, i, values.length - 1 - i);
    let sum = 0;
    let count = 0;
    for (let j = i - h; j <= i + h; j++) {
      if (Number.isFinite(values[j])) (sum += values[j]), count++;
    }
    out.push(count ? sum / count : Number.NaN);
  }
  return out;
}

/** How a run's line is smoothed, as chosen by the options. */
interface Smoother {
  /** Smoothed values of one run's losses. */
  apply(values: readonly number[]): number[];
  /** The legend's words for the bold line ("" when there is none). */
  describe(windows: number[]): string;
  active: boolean;
}

function smootherFor(options: LossChartOptions): Smoother {
  if (options.smoothing !== undefined) {
    const b = options.smoothing;
    return { apply: (v) => emaSmooth(v, b), describe: () => `trailing EMA ${b}, debiased`, active: b > 0 };
  }
  if (options.window !== undefined && !(Number.isInteger(options.window) && options.window >= 1 && options.window % 2 === 1))
    throw new InvalidArgumentError("lossChart", expected("window to be an odd integer >= 1", options.window));
  const widthOf = (n: number) => options.window ?? defaultWindow(n);
  return {
    apply: (v) => centredMovingAverage(v, widthOf(v.length)),
    describe: (windows) => {
      const distinct = [...new Set(windows)];
      return `centred ${distinct.join("/")}-step moving average`;
    },
    active: options.window === undefined || options.window > 1,
  };
}

/** Indices 0..n-1 thinned evenly to at most `max`, always keeping the last. */
export function thinIndices(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const stride = (n - 1) / (max - 1);
  const out: number[] = [];
  for (let k = 0; k < max; k++) out.push(Math.round(k * stride));
  return [...new Set(out)];
}

/** Eval mark shapes, one per run in order. */
const EVAL_SHAPES = ["circle", "square", "triangle-up", "diamond"] as const;

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
  const smoother = smootherFor(options);
  const logY = options.yScale === "log";
  const byTime = options.x === "time";
  const maxPoints = Math.max(2, options.maxPoints ?? 1000);
  const width = options.width ?? 560;
  const runs = groupRuns(steps, evals);
  const train: Record<string, unknown>[] = [];
  const evalRows: Record<string, unknown>[] = [];
  const windows: number[] = [];
  const usable = (loss: number) => Number.isFinite(loss) && (!logY || loss > 0);
  for (const { run, steps: s, evals: e } of runs) {
    const kept = s.filter((r) => usable(r.loss));
    const smooth = smoother.apply(kept.map((r) => r.loss));
    if (kept.length) windows.push(options.window ?? defaultWindow(kept.length));
    for (const i of thinIndices(kept.length, maxPoints)) {
      const r = kept[i];
      train.push({ run, step: r.step, time: r.elapsedMs / 1000, loss: r.loss, smoothed: smooth[i] });
    }
    for (const r of e) if (usable(r.loss)) evalRows.push({ run, step: r.step, time: r.elapsedMs / 1000, loss: r.loss, perplexity: r.perplexity });
  }
  // About one x label per 80 px, and vega drops any label that would touch its neighbour.
  const xAxis = { tickCount: Math.max(2, Math.floor(width / 80)), labelOverlap: "greedy", labelSeparation: 6, labelFlush: true };
  const x = byTime
    ? { field: "time", type: "quantitative", title: "wall time (s)", axis: xAxis }
    : { field: "step", type: "quantitative", title: "training step", axis: { ...xAxis, tickMinStep: 1 } };
  const y = { type: "quantitative", title: logY ? "loss (log scale)" : "loss", scale: logY ? { type: "log" } : { zero: false } };
  const runNames = runs.map((r) => r.run);
  const color = {
    field: "run",
    type: "nominal",
    title: "run",
    scale: colorScale(runNames, RUN_COLORS),
    legend: { symbolType: "stroke", symbolOpacity: 1, symbolStrokeWidth: 3 },
  };
  const evalRuns = runNames.filter((name) => evalRows.some((r) => r.run === name));
  const shapes = evalRuns.map((_, i) => EVAL_SHAPES[i % EVAL_SHAPES.length]!);
  const legendParts = [smoother.active ? `faint: raw train loss, bold: ${smoother.describe(windows)}` : "line: train loss"];
  if (evalRows.length)
    legendParts.push(evalRuns.length > 1 ? `marks: eval loss (${evalRuns.map((r, i) => `${r} ${shapes[i]!.replace("-up", "")}`).join(", ")})` : "dots: eval loss");
  const legend = legendParts.join(", ");
  const subtitle = options.subtitle ? [...[options.subtitle].flat(), legend] : legend;
  const layers: Record<string, unknown>[] = [
    { data: { values: train }, mark: { type: "line", opacity: smoother.active ? 0.3 : 1, strokeWidth: 1 }, encoding: { x, y: { ...y, field: "loss" }, color, detail: { field: "run" } } },
  ];
  if (smoother.active)
    layers.push({
      data: { values: train },
      mark: { type: "line", strokeWidth: 2.5 },
      encoding: {
        x,
        y: { ...y, field: "smoothed" },
        color,
        tooltip: [{ field: "run" }, { field: "step", type: "quantitative" }, { field: "loss", type: "quantitative", format: ".4f" }, { field: "smoothed", type: "quantitative", format: ".4f", title: "smoothed" }],
      },
    });
  // One layer per run, each its own shape: the first filled, later ones open and smaller on top, so no run hides another's.
  evalRuns.forEach((name, i) =>
    layers.push({
      data: { values: evalRows.filter((r) => r.run === name) },
      mark: i === 0
        ? { type: "point", shape: shapes[i], size: 110, filled: true, stroke: "white", strokeWidth: 1, opacity: 0.9 }
        : { type: "point", shape: shapes[i], size: Math.max(50, 110 - 25 * i), filled: false, strokeWidth: 2, opacity: 1 },
      encoding: {
        x,
        y: { ...y, field: "loss" },
        color,
        tooltip: [{ field: "run" }, { field: "step", type: "quantitative" }, { field: "loss", type: "quantitative", format: ".4f", title: "eval loss" }, { field: "perplexity", type: "quantitative", format: ".2f" }],
      },
    }),
  );
  return topLevelSpec({
    title: { text: options.title ?? "Training loss", subtitle },
    width,
    height: options.height ?? 300,
    layer: layers,
    resolve: { scale: { y: "shared" } },
  });
}

/** Mean of the finite values among the last `n` (NaN when there are none). */
export function trailingMean(values: readonly number[], n: number): number {
  const tail = values.slice(-n).filter(Number.isFinite);
  return tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : Number.NaN;
}

/** A one-line description of the runs' final losses. */
function lossSummary(steps: readonly StepRecord[], evals: readonly EvalRecord[]): string {
  const runs = groupRuns(steps, evals);
  if (runs.length === 0) return "Loss chart: no records yet";
  const parts = runs.map(({ run, steps: s, evals: e }) => {
    const last = s[s.length - 1];
    const bits = [`${run}: ${s.length} steps`];
    if (last) bits.push(`last step ${last.step}, loss ${formatNumber(last.loss)} (mean of the last ${Math.min(10, s.length)}: ${formatNumber(trailingMean(s.map((r) => r.loss), 10))})`);
    const lastEval = e[e.length - 1];
    if (lastEval) bits.push(`eval loss ${formatNumber(lastEval.loss)} at step ${lastEval.step}`);
    return bits.join(", ");
  });
  return `Loss chart (${runs.length} run${runs.length === 1 ? "" : "s"}): ${parts.join("; ")}`;
}

/** Loss curves of one or several runs (train loss, its smoothed line, eval points), as a displayable chart. */
export function lossChart(steps: readonly StepRecord[], evals: readonly EvalRecord[] = [], options: LossChartOptions = {}): Chart {
  const spec = lossChartSpec(steps, evals, options);
  return new Chart(spec, lossSummary(steps, evals));
}
