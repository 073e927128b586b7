// Merged vs separate adapters: for one model and adapter, how far merging into a float32 copy or
// merging and requantizing to 4 bits moves the logits, perplexity, greedy output, speed and memory,
// and how much of each layer's LoRA delta survives requantization. One call gives a table and a chart.
import { InvalidArgumentError, expected } from "../errors.js";
import { Chart, topLevelSpec } from "./chart.js";
import { JUPYTER_DISPLAY, type DisplayBundle, type Displayable } from "./display.js";
import { chooseByteUnit, formatBytes, formatNumber } from "../format.js";
import { MERGE_METHOD_COLORS, colorScale } from "./palette.js";
import type { DeltaSurvivalRow, MergeComparisonRow } from "./records.js";
import { Table, table } from "./table.js";
import { requireArray, requireFinite, requireString } from "../validate.js";

/** The table and the chart of one merged-vs-separate comparison; displays as the chart. */
export class MergeComparison implements Displayable {
  constructor(
    readonly table: Table,
    readonly chart: Chart,
  ) {}

  /** The chart's bundle, with the Markdown table as its text/plain. */
  [JUPYTER_DISPLAY](): DisplayBundle {
    const bundle = this.chart.toBundle();
    return { data: { ...bundle.data, "text/plain": `${this.chart.summary}\n\n${this.table.toMarkdown()}` }, metadata: bundle.metadata };
  }

  toString(): string {
    return this.table.toMarkdown();
  }
}

const METRICS: readonly { field: keyof MergeComparisonRow; title: string; format: string; better: string; zero?: false }[] = [
  { field: "maxAbsLogitDiff", title: "max |logit difference|", format: ".3~g", better: "lower is closer" },
  { field: "meanAbsLogitDiff", title: "mean |logit difference|", format: ".3~g", better: "lower is closer" },
  // Perplexities differ in their third decimal: an axis from 0 would draw equal bars.
  { field: "perplexity", title: "perplexity", format: ".4~g", better: "lower is better; axis does not start at 0", zero: false },
  { field: "greedyAgreement", title: "greedy tokens agreeing", format: ".1%", better: "higher is closer" },
  { field: "tokensPerSecond", title: "inference tokens/s", format: ".3~s", better: "higher is faster; line: min-max of repeats" },
  { field: "residentBytes", title: "resident memory", format: ".3~g", better: "lower is smaller" },
];

/** "model.layers.3.self_attn.q_proj" -> "3 q_proj": short enough to label every bar. */
export function shortLayerName(path: string): string {
  const m = /layers\.(\d+)\.(?:[^.]+\.)*([^.]+)$/.exec(path);
  return m ? `${m[1]} ${m[2]}` : path.split(".").slice(-2).join(".");
}

/** Options of {@link mergeComparison}. */
export interface MergeComparisonOptions {
  title?: string;
}

/** The merged-vs-separate comparison: a table of every metric and a chart (one panel per metric, plus delta survival and merge noise per layer). */
export function mergeComparison(rows: readonly MergeComparisonRow[], survival: readonly DeltaSurvivalRow[] = [], options: MergeComparisonOptions = {}): MergeComparison {
  const where = "mergeComparison";
  requireArray(where, "rows", rows);
  requireArray(where, "survival", survival);
  if (rows.length === 0) throw new InvalidArgumentError(where, expected("at least one method row", "[]"));
  for (const row of rows) {
    requireString(where, "row.method", row.method);
    for (const m of METRICS) requireFinite(where, `row.${m.field}`, row[m.field]);
    if (row.tokensPerSecondRange !== undefined) for (const v of row.tokensPerSecondRange) requireFinite(where, "row.tokensPerSecondRange", v);
  }
  for (const s of survival) {
    requireString(where, "survival.layer", s.layer);
    requireFinite(where, "survival.survival", s.survival);
    if (s.deltaError !== undefined) requireFinite(where, "survival.deltaError", s.deltaError);
    if (s.deltaOutputError !== undefined) requireFinite(where, "survival.deltaOutputError", s.deltaOutputError);
  }
  const methods = rows.map((r) => r.method);
  const colors = colorScale(methods, MERGE_METHOD_COLORS);
  const unit = chooseByteUnit(Math.max(...rows.map((r) => r.residentBytes)));
  const values = rows.map((r) => ({ ...r, residentScaled: r.residentBytes / unit.bytes, tpsLo: r.tokensPerSecondRange?.[0], tpsHi: r.tokensPerSecondRange?.[1] }));
  const withRange = values.filter((v) => v.tpsLo !== undefined);
  const panels = METRICS.map((m) => {
    const field = m.field === "residentBytes" ? "residentScaled" : m.field;
    const title = m.field === "residentBytes" ? `${m.title} (${unit.name})` : m.title;
    const better = m.field === "tokensPerSecond" && withRange.length === 0 ? "higher is faster" : m.better;
    const x = {
      field,
      type: "quantitative",
      title: null,
      scale: m.zero === false ? { zero: false, padding: 12 } : {},
      // Few ticks, and overlapping labels dropped: "100" and "120" once printed as "100120".
      axis: { format: m.format === ".1%" ? ".0%" : m.format, tickCount: 3, labelOverlap: "greedy", labelSeparation: 6 },
    };
    // Without a zero baseline a bar's length means nothing: such a metric is drawn as a dot.
    const mark = m.zero === false ? { type: "point", filled: true, size: 90, opacity: 1 } : { type: "bar" };
    const layer: Record<string, unknown>[] = [
      { mark, encoding: { color: { field: "method", type: "nominal", title: "method", scale: colors, legend: null }, tooltip: [{ field: "method" }, { field, format: m.format, title }] } },
    ];
    if (m.field === "tokensPerSecond" && withRange.length > 0) {
      layer.push({ data: { values: withRange }, mark: { type: "rule", color: "#333333", strokeWidth: 1.5 }, encoding: { x: { field: "tpsLo", type: "quantitative" }, x2: { field: "tpsHi" } } });
    }
    // With a spread drawn, the value is written after the spread's line, not across it.
    const textX = m.field === "tokensPerSecond" && withRange.length > 0 ? { x: { field: "tpsHi", type: "quantitative" } } : {};
    layer.push({ mark: { type: "text", align: "left", dx: m.zero === false ? 8 : 3, fontSize: 10 }, encoding: { ...textX, text: { field, type: "quantitative", format: m.format } } });
    return {
      title: { text: title, subtitle: better, fontSize: 12, subtitleFontSize: 10 },
      width: 190,
      height: 22 * Math.max(3, rows.length) + 10,
      data: { values },
      encoding: { y: { field: "method", type: "nominal", sort: methods, title: null }, x },
      layer,
    };
  });
  const sections: Record<string, unknown>[] = [{ concat: panels, columns: 3, spacing: 24 }];
  if (survival.length > 0) {
    const layerNames = [...new Set(survival.map((s) => s.layer))];
    const shortNames = layerNames.map(shortLayerName);
    const labelled = survival.map((s) => ({ ...s, short: shortLayerName(s.layer), method: s.method ?? "merged-4bit" }));
    const width = Math.min(900, Math.max(300, layerNames.length * 22));
    const xAxis = (labels: boolean) => ({ field: "short", type: "nominal", sort: shortNames, title: labels ? "layer (block index and projection)" : null, axis: labels ? { labelAngle: -50, labelFontSize: 9, labelLimit: 120 } : { labels: false, ticks: false } });
    const noise = labelled.flatMap((s) => [
      ...(s.deltaError !== undefined ? [{ short: s.short, layer: s.layer, measure: "in the weights", value: s.deltaError }] : []),
      ...(s.deltaOutputError !== undefined ? [{ short: s.short, layer: s.layer, measure: "in the layer's outputs", value: s.deltaOutputError }] : []),
    ]);
    const survivalView = {
      title: { text: "How much of each layer's LoRA update survives requantization", subtitle: "its direction: the realised change projected on the intended one, 1.0 = all of it", fontSize: 12, subtitleFontSize: 10 },
      width,
      height: 130,
      data: { values: labelled },
      layer: [
        {
          mark: { type: "bar" },
          encoding: {
            x: xAxis(true),
            y: { field: "survival", type: "quantitative", title: "fraction kept", scale: { domain: [0, Math.max(1, ...survival.map((s) => s.survival))] } },
            color: { field: "method", type: "nominal", scale: colors, legend: null },
            tooltip: [{ field: "layer" }, { field: "survival", format: ".3f" }],
          },
        },
        { data: { values: [{ one: 1 }] }, mark: { type: "rule", strokeDash: [4, 4], color: "#333333" }, encoding: { y: { field: "one", type: "quantitative" } } },
      ],
    };
    sections.push(survivalView);
    if (noise.length > 0) {
      sections.push({
        title: { text: "...and the noise requantizing adds to it", subtitle: "||realised change - intended change|| / ||intended change||; 0 = none, 1 = as large as the update itself", fontSize: 12, subtitleFontSize: 10 },
        width,
        height: 130,
        data: { values: noise },
        layer: [
          {
            mark: { type: "bar" },
            encoding: {
              x: xAxis(true),
              xOffset: { field: "measure", type: "nominal" },
              y: { field: "value", type: "quantitative", title: "error / update" },
              color: { field: "measure", type: "nominal", title: "error measured", scale: { domain: ["in the weights", "in the layer's outputs"], range: ["#b279a2", "#ff9da6"] }, legend: { orient: "top", direction: "horizontal" } },
              tooltip: [{ field: "layer" }, { field: "measure" }, { field: "value", format: ".3f" }],
            },
          },
          { data: { values: [{ one: 1 }] }, mark: { type: "rule", strokeDash: [4, 4], color: "#333333" }, encoding: { y: { field: "one", type: "quantitative" } } },
        ],
      });
    }
  }
  const spec = topLevelSpec({
    title: { text: options.title ?? "Separate adapter vs merged", subtitle: `differences measured against "${methods[0]}"; colours: ${methods.join(", ")}` },
    vconcat: sections,
    spacing: 28,
    resolve: { scale: { color: "independent" } },
  });
  const meanSurvival = survival.length > 0 ? survival.reduce((s, r) => s + r.survival, 0) / survival.length : undefined;
  const summary =
    `Merge comparison: ${rows.map((r) => `${r.method} max|Δlogit| ${formatNumber(r.maxAbsLogitDiff, 3)}, ppl ${formatNumber(r.perplexity, 4)}, agree ${(100 * r.greedyAgreement).toFixed(1)}%, ${formatBytes(r.residentBytes)}`).join("; ")}` +
    (meanSurvival !== undefined ? `; mean delta survival ${meanSurvival.toFixed(3)}` : "");
  const tableRows = rows.map((r) => ({
    method: r.method,
    "max |Δ logit|": r.maxAbsLogitDiff,
    "mean |Δ logit|": r.meanAbsLogitDiff,
    perplexity: r.perplexity,
    "greedy agreement": `${(100 * r.greedyAgreement).toFixed(1)} %`,
    "tokens/s (median)": r.tokensPerSecond,
    ...(rows.some((x) => x.tokensPerSecondRange) ? { "tokens/s (min-max)": r.tokensPerSecondRange ? `${formatNumber(r.tokensPerSecondRange[0], 3)}-${formatNumber(r.tokensPerSecondRange[1], 3)}` : "" } : {}),
    resident: formatBytes(r.residentBytes),
  }));
  return new MergeComparison(table(tableRows, { digits: 4 }), new Chart(spec, summary));
}
