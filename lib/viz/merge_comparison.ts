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

const METRICS: readonly { field: keyof MergeComparisonRow; title: string; format: string; better: string }[] = [
  { field: "maxAbsLogitDiff", title: "max |logit difference|", format: ".3~g", better: "lower is closer" },
  { field: "meanAbsLogitDiff", title: "mean |logit difference|", format: ".3~g", better: "lower is closer" },
  { field: "perplexity", title: "perplexity", format: ".4~g", better: "lower is better" },
  { field: "greedyAgreement", title: "greedy tokens agreeing", format: ".1%", better: "higher is closer" },
  { field: "tokensPerSecond", title: "inference tokens/s", format: ".3~s", better: "higher is faster" },
  { field: "residentBytes", title: "resident memory", format: ".3~g", better: "lower is smaller" },
];

/** Options of {@link mergeComparison}. */
export interface MergeComparisonOptions {
  title?: string;
}

/** The merged-vs-separate comparison: a table of every metric and a chart (one bar panel per metric, plus delta survival per layer). */
export function mergeComparison(rows: readonly MergeComparisonRow[], survival: readonly DeltaSurvivalRow[] = [], options: MergeComparisonOptions = {}): MergeComparison {
  const where = "mergeComparison";
  requireArray(where, "rows", rows);
  requireArray(where, "survival", survival);
  if (rows.length === 0) throw new InvalidArgumentError(where, expected("at least one method row", "[]"));
  for (const row of rows) {
    requireString(where, "row.method", row.method);
    for (const m of METRICS) requireFinite(where, `row.${m.field}`, row[m.field]);
  }
  for (const s of survival) (requireString(where, "survival.layer", s.layer), requireFinite(where, "survival.survival", s.survival));
  const methods = rows.map((r) => r.method);
  const colors = colorScale(methods, MERGE_METHOD_COLORS);
  const unit = chooseByteUnit(Math.max(...rows.map((r) => r.residentBytes)));
  const values = rows.map((r) => ({ ...r, residentScaled: r.residentBytes / unit.bytes }));
  const panels = METRICS.map((m) => {
    const field = m.field === "residentBytes" ? "residentScaled" : m.field;
    const title = m.field === "residentBytes" ? `${m.title} (${unit.name})` : m.title;
    return {
      title: { text: title, subtitle: m.better, fontSize: 12, subtitleFontSize: 10 },
      width: 190,
      height: 110,
      data: { values },
      encoding: {
        y: { field: "method", type: "nominal", sort: methods, title: null },
        x: { field, type: "quantitative", title: null, axis: { format: m.format === ".1%" ? ".0%" : m.format, tickCount: 4 } },
      },
      layer: [
        { mark: { type: "bar" }, encoding: { color: { field: "method", type: "nominal", title: "method", scale: colors, legend: null }, tooltip: [{ field: "method" }, { field, format: m.format, title }] } },
        { mark: { type: "text", align: "left", dx: 3, fontSize: 10 }, encoding: { text: { field, type: "quantitative", format: m.format } } },
      ],
    };
  });
  const sections: Record<string, unknown>[] = [{ concat: panels, columns: 3, spacing: 24 }];
  if (survival.length > 0) {
    const layers = [...new Set(survival.map((s) => s.layer))];
    sections.push({
      title: { text: "How much of each layer's LoRA delta survives requantization", subtitle: "1.0 = all of it; small deltas round away to the same 4-bit code", fontSize: 12, subtitleFontSize: 10 },
      width: Math.min(760, Math.max(300, layers.length * 14)),
      height: 160,
      data: { values: survival.map((s) => ({ ...s, method: s.method ?? "merged-4bit" })) },
      layer: [
        {
          mark: { type: "bar" },
          encoding: {
            x: { field: "layer", type: "nominal", sort: layers, title: "layer", axis: layers.length > 24 ? { labels: false, ticks: false } : { labelAngle: -40, labelLimit: 180 } },
            y: { field: "survival", type: "quantitative", title: "fraction of delta kept", scale: { domain: [0, Math.max(1, ...survival.map((s) => s.survival))] } },
            color: { field: "method", type: "nominal", scale: colors, legend: null },
            tooltip: [{ field: "layer" }, { field: "survival", format: ".3f" }],
          },
        },
        { data: { values: [{ one: 1 }] }, mark: { type: "rule", strokeDash: [4, 4], color: "#333333" }, encoding: { y: { field: "one", type: "quantitative" } } },
      ],
    });
  }
  const spec = topLevelSpec({
    title: { text: options.title ?? "Separate adapter vs merged", subtitle: `differences measured against "${methods[0]}"; colours: ${methods.join(", ")}` },
    vconcat: sections,
    spacing: 28,
    resolve: { scale: { color: "shared" } },
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
    "tokens/s": r.tokensPerSecond,
    resident: formatBytes(r.residentBytes),
  }));
  return new MergeComparison(table(tableRows, { digits: 4 }), new Chart(spec, summary));
}
