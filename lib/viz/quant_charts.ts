// Quantization pictures: a weight histogram in the code book's domain (each weight divided by its
// block's absmax, as blockwise NF4/FP4/INT4 do) with the 16 levels drawn on it; per-block error; code usage.
// Reference: QLoRA (Dettmers et al. 2023) section 3, NormalFloat quantization.
import { InvalidArgumentError, expected } from "../errors.js";
import { Chart, topLevelSpec } from "./chart.js";
import { formatNumber } from "../format.js";
import { QUANT_TYPE_COLORS, colorScale } from "./palette.js";
import type { BlockErrorSeries, CodebookLevels, CodeUsageSeries } from "./records.js";
import { requireArray, requireIntegerIn, requirePositiveInteger, requireString } from "../validate.js";

/** Options of {@link quantHistogramChart}. */
export interface QuantHistogramOptions {
  /** Divide each weight by the absmax of its block of `blocksize` (default true), landing in [-1, 1]. */
  normalize?: boolean;
  /** Block size for normalisation. Default 64 (the QLoRA default). */
  blocksize?: number;
  /** Histogram bins. Default 81. */
  bins?: number;
  title?: string;
  width?: number;
  height?: number;
}

/** Histogram bins of `values` (optionally divided by their block's absmax): rows {x0, x1, count}. */
export function histogramBins(values: ArrayLike<number>, options: { normalize?: boolean; blocksize?: number; bins?: number } = {}): { x0: number; x1: number; count: number }[] {
  const normalize = options.normalize ?? true;
  const blocksize = options.blocksize ?? 64;
  const bins = options.bins ?? 81;
  requirePositiveInteger("histogramBins", "blocksize", blocksize);
  requireIntegerIn("histogramBins", "bins", bins, 2, 1000);
  const scaled = new Float64Array(values.length);
  for (let start = 0; start < values.length; start += blocksize) {
    const end = Math.min(values.length, start + blocksize);
    let absmax = 0;
    if (normalize) for (let i = start; i < end; i++) absmax = Math.max(absmax, Math.abs(values[i]));
    for (let i = start; i < end; i++) scaled[i] = normalize ? (absmax > 0 ? values[i] / absmax : 0) : values[i];
  }
  let lo = normalize ? -1 : Number.POSITIVE_INFINITY;
  let hi = normalize ? 1 : Number.NEGATIVE_INFINITY;
  if (!normalize) for (const v of scaled) if (Number.isFinite(v)) ((lo = Math.min(lo, v)), (hi = Math.max(hi, v)));
  if (!(hi > lo)) ((lo -= 0.5), (hi += 0.5));
  const width = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const v of scaled) if (Number.isFinite(v)) counts[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)))]++;
  return counts.map((count, i) => ({ x0: lo + i * width, x1: lo + (i + 1) * width, count }));
}

/** Levels nearer than this many pixels draw as one line, so the chart labels them as a group. */
const MERGED_LEVEL_PX = 4;

/** A code book's levels as drawn: its distinct values, values coded more than once, and runs too close to tell apart. */
export interface LevelLayout {
  distinct: number[];
  /** Values that more than one code stands for (FP4's +0 and -0, INT4's padding 0), with how many codes. */
  repeated: { value: number; codes: number }[];
  /** Neighbouring distinct levels closer than `minGap` to each other, drawn as one line (at least two levels each). */
  merged: number[][];
}

/** How `levels` look on an axis where levels nearer than `minGap` overlap. */
export function levelLayout(levels: readonly number[], minGap: number): LevelLayout {
  const counts = new Map<number, number>();
  for (const level of levels) counts.set(level === 0 ? 0 : level, (counts.get(level === 0 ? 0 : level) ?? 0) + 1); // -0 and +0 are one value
  const distinct = [...counts.keys()].sort((a, b) => a - b);
  const repeated = distinct.filter((v) => counts.get(v)! > 1).map((value) => ({ value, codes: counts.get(value)! }));
  const merged: number[][] = [];
  let run: number[] = [];
  for (const level of distinct) {
    if (run.length > 0 && level - run[run.length - 1]! >= minGap) {
      if (run.length > 1) merged.push(run);
      run = [];
    }
    run.push(level);
  }
  if (run.length > 1) merged.push(run);
  return { distinct, repeated, merged };
}

/** "NF4: 16 levels", or "FP4: 16 codes, 15 distinct levels (0 coded twice)" when codes share a value. */
function panelTitle(name: string, levels: readonly number[], layout: LevelLayout): string {
  if (!name) return "";
  if (layout.repeated.length === 0) return `${name.toUpperCase()}: ${levels.length} levels`;
  const times = (n: number) => (n === 2 ? "twice" : `${n} times`);
  const shared = layout.repeated.map((r) => `${formatNumber(r.value)} coded ${times(r.codes)}`).join(", ");
  return `${name.toUpperCase()}: ${levels.length} codes, ${layout.distinct.length} distinct levels (${shared})`;
}

/** A weight histogram with each code book's levels drawn as vertical lines (one panel per code book). */
export function quantHistogramChart(values: ArrayLike<number>, codebooks: readonly CodebookLevels[], options: QuantHistogramOptions = {}): Chart {
  const where = "quantHistogramChart";
  requireArray(where, "values", values);
  requireArray(where, "codebooks", codebooks);
  if (values.length === 0) throw new InvalidArgumentError(where, expected("at least one value", "[]"));
  const normalize = options.normalize ?? true;
  const bins = histogramBins(values, options);
  const books = codebooks.length > 0 ? codebooks : [{ name: "", levels: [] }];
  const colors = colorScale(books.map((b) => b.name), QUANT_TYPE_COLORS);
  const xTitle = normalize ? `weight ÷ absmax of its block of ${options.blocksize ?? 64}` : "weight";
  const width = options.width ?? 520;
  const domain = [bins[0].x0, bins[bins.length - 1].x1];
  const minGap = (MERGED_LEVEL_PX * (domain[1] - domain[0])) / width;
  const layouts = books.map((book) => {
    requireArray(where, "codebook.levels", book.levels);
    for (const level of book.levels) if (!Number.isFinite(level)) throw new InvalidArgumentError(where, expected("finite code book levels", book.levels));
    return levelLayout(book.levels, minGap);
  });
  // Labels of merged levels sit above the tallest bar: every panel gets the same headroom, so bars compare.
  const maxCount = Math.max(1, ...bins.map((b) => b.count));
  const labelled = layouts.some((l) => l.merged.length > 0);
  const yScale = labelled ? { domainMax: maxCount * 1.2 } : {};
  const panels = books.map((book, index) => {
    const name = book.name;
    const layout = layouts[index]!;
    const layer: Record<string, unknown>[] = [
      {
        data: { values: bins.map((b) => ({ ...b, zero: 0 })) },
        mark: { type: "rect", color: "#9aa5b1" },
        encoding: {
          x: { field: "x0", type: "quantitative", title: xTitle, scale: { domain } },
          x2: { field: "x1" },
          y: { field: "count", type: "quantitative", title: "weights", scale: yScale },
          y2: { field: "zero" },
          tooltip: [{ field: "x0", format: ".3f", title: "from" }, { field: "x1", format: ".3f", title: "to" }, { field: "count" }],
        },
      },
    ];
    if (book.levels.length > 0)
      layer.push({
        data: { values: book.levels.map((level, code) => ({ level, code, book: name })) },
        mark: { type: "rule", strokeWidth: 1.5 },
        encoding: {
          x: { field: "level", type: "quantitative" },
          // With labels, lines stop at the tallest bar and the labels sit in the free band above.
          ...(labelled ? { y: { datum: 0, type: "quantitative" }, y2: { datum: maxCount } } : {}),
          color: { field: "book", type: "nominal", title: "code book levels", scale: colors, legend: { symbolType: "stroke" } },
          tooltip: [{ field: "book" }, { field: "code", title: "code" }, { field: "level", format: ".4f" }],
        },
      });
    if (layout.merged.length > 0)
      layer.push({
        data: {
          values: layout.merged.map((run) => ({
            at: run[run.length - 1],
            height: maxCount * 1.1,
            text: `${run.length} levels drawn as one line: ${run.map((v) => formatNumber(v, 2)).join(", ")}`,
          })),
        },
        mark: { type: "text", align: "left", baseline: "middle", dx: 5, fontSize: 11, color: "#333333" },
        encoding: { x: { field: "at", type: "quantitative" }, y: { field: "height", type: "quantitative" }, text: { field: "text" } },
      });
    return { title: { text: panelTitle(name, book.levels, layout), fontSize: 12, fontWeight: "normal" }, width, height: options.height ?? (books.length > 1 ? 130 : 220), layer };
  });
  const spec = topLevelSpec({
    title: { text: options.title ?? "Weights and the 4-bit code book", subtitle: "each weight is stored as the nearest level; dense regions deserve more levels" },
    vconcat: panels,
    resolve: { scale: { color: "shared" } },
  });
  const described = codebooks.map((b, i) => `${b.name} (${layouts[i]!.distinct.length === b.levels.length ? `${b.levels.length} levels` : `${b.levels.length} codes, ${layouts[i]!.distinct.length} distinct levels`})`);
  return new Chart(spec, `Weight histogram: ${values.length} values${normalize ? " (block-normalised)" : ""}; code books: ${described.join(", ") || "none"}`);
}

/** Options of {@link blockErrorChart} and {@link codeUsageChart}. */
export interface QuantChartOptions {
  title?: string;
  /** Y axis title of the block error chart. Default "mean |w - dequant(w)| in the block". */
  errorTitle?: string;
  /** Most points per series (blocks are averaged into buckets beyond). Default 400. */
  maxPoints?: number;
  width?: number;
  height?: number;
}

/** Quantization error per block for one or several data types, with each series' mean as a dashed line. */
export function blockErrorChart(series: readonly BlockErrorSeries[], options: QuantChartOptions = {}): Chart {
  const where = "blockErrorChart";
  requireArray(where, "series", series);
  if (series.length === 0) throw new InvalidArgumentError(where, expected("at least one series", "[]"));
  const maxPoints = Math.max(10, options.maxPoints ?? 400);
  const points: Record<string, unknown>[] = [];
  const means: Record<string, unknown>[] = [];
  let bucketed = false;
  for (const s of series) {
    const name = requireString(where, "series.name", s.name);
    const errors = requireArray<number>(where, "series.errors", s.errors);
    const n = errors.length;
    const per = Math.max(1, Math.ceil(n / maxPoints));
    if (per > 1) bucketed = true;
    let total = 0;
    for (let start = 0; start < n; start += per) {
      let sum = 0;
      const end = Math.min(n, start + per);
      for (let i = start; i < end; i++) sum += errors[i];
      total += sum;
      points.push({ name, block: start, error: sum / (end - start) });
    }
    means.push({ name, mean: n > 0 ? total / n : 0 });
  }
  const color = { field: "name", type: "nominal", title: "data type", scale: colorScale(series.map((s) => s.name), QUANT_TYPE_COLORS) };
  const spec = topLevelSpec({
    title: { text: options.title ?? "Quantization error per block", subtitle: `dashed: mean over all blocks${bucketed ? "; neighbouring blocks averaged to fit" : ""}` },
    width: options.width ?? 560,
    height: options.height ?? 240,
    layer: [
      {
        data: { values: points },
        mark: { type: "line", strokeWidth: 1.2, opacity: 0.85 },
        encoding: {
          x: { field: "block", type: "quantitative", title: "block index" },
          y: { field: "error", type: "quantitative", title: options.errorTitle ?? "mean |w − dequant(w)| in the block" },
          color,
          tooltip: [{ field: "name" }, { field: "block" }, { field: "error", format: ".3e" }],
        },
      },
      { data: { values: means }, mark: { type: "rule", strokeDash: [6, 4], strokeWidth: 2 }, encoding: { y: { field: "mean", type: "quantitative" }, color } },
    ],
  });
  return new Chart(spec, `Block error: ${means.map((m) => `${m.name} mean ${formatNumber(m.mean as number, 3)}`).join(", ")}`);
}

/** How often each 4-bit code is used, per data type, against the uniform 1/16 that would use all 4 bits fully. */
export function codeUsageChart(series: readonly CodeUsageSeries[], options: QuantChartOptions = {}): Chart {
  const where = "codeUsageChart";
  requireArray(where, "series", series);
  if (series.length === 0) throw new InvalidArgumentError(where, expected("at least one series", "[]"));
  const rows: Record<string, unknown>[] = [];
  const entropies: string[] = [];
  let codes = 0;
  for (const s of series) {
    const name = requireString(where, "series.name", s.name);
    const counts = requireArray<number>(where, "series.counts", s.counts);
    codes = Math.max(codes, counts.length);
    let total = 0;
    for (let i = 0; i < counts.length; i++) total += counts[i];
    let entropy = 0;
    for (let code = 0; code < counts.length; code++) {
      const fraction = total > 0 ? counts[code] / total : 0;
      if (fraction > 0) entropy -= fraction * Math.log2(fraction);
      rows.push({ name, code, count: counts[code], fraction, level: s.levels?.[code] ?? null });
    }
    entropies.push(`${name} ${entropy.toFixed(2)} bits`);
  }
  const color = { field: "name", type: "nominal", title: "data type", scale: colorScale(series.map((s) => s.name), QUANT_TYPE_COLORS) };
  const spec = topLevelSpec({
    title: { text: options.title ?? "How often each 4-bit code is used", subtitle: `dashed: uniform use (1/${codes}); entropy: ${entropies.join(", ")}` },
    width: options.width ?? 560,
    height: options.height ?? 240,
    layer: [
      {
        data: { values: rows },
        mark: { type: "bar" },
        encoding: {
          x: { field: "code", type: "ordinal", title: "4-bit code", axis: { labelAngle: 0 } },
          xOffset: { field: "name", type: "nominal" },
          y: { field: "fraction", type: "quantitative", title: "fraction of weights", axis: { format: ".0%" } },
          color,
          tooltip: [{ field: "name" }, { field: "code" }, { field: "level", format: ".4f" }, { field: "count" }, { field: "fraction", format: ".2%" }],
        },
      },
      { data: { values: [{ uniform: 1 / Math.max(1, codes) }] }, mark: { type: "rule", strokeDash: [6, 4], color: "#333333" }, encoding: { y: { field: "uniform", type: "quantitative" } } },
    ],
  });
  return new Chart(spec, `Code usage over ${codes} codes: ${entropies.join(", ")} of entropy (4 = every code equally used)`);
}
