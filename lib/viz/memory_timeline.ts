// Memory across one training step: a stacked area by category over time (PyTorch's "active memory
// timeline" picture), with phase changes (forward, backward, optimizer) marked.
import { InvalidArgumentError, expected } from "../errors.js";
import { Chart, topLevelSpec } from "./chart.js";
import { chooseByteUnit, formatBytes } from "../format.js";
import { HOST_CATEGORIES, categoryRows, totalBytes } from "./memory_rows.js";
import { MEMORY_CATEGORY_LABELS, memoryColorScale } from "./palette.js";
import type { MemoryTimelinePoint } from "./records.js";
import { requireArray, requireFinite } from "../validate.js";
import type { MemoryCategory } from "../memory/types.js";

/** Options of {@link memoryTimelineChart}. */
export interface MemoryTimelineOptions {
  /** Axis title for `t`. Default "time in the step (ms)". */
  xTitle?: string;
  budgetBytes?: number;
  /** Name of the budget line. Default "device budget". */
  budgetLabel?: string;
  title?: string;
  width?: number;
  height?: number;
}

/** A stacked area of resident bytes by category over one step, phase changes drawn as labelled rules. */
export function memoryTimelineChart(points: readonly MemoryTimelinePoint[], options: MemoryTimelineOptions = {}): Chart {
  const where = "memoryTimelineChart";
  requireArray(where, "points", points);
  if (points.length === 0) throw new InvalidArgumentError(where, expected("at least one timeline point", "[]"));
  const sorted = [...points].sort((a, b) => requireFinite(where, "point.t", a.t) - requireFinite(where, "point.t", b.t));
  const totals = sorted.map((p) => totalBytes(p.bytesByCategory, HOST_CATEGORIES));
  const peak = Math.max(...totals);
  const peakAt = sorted[totals.indexOf(peak)];
  const unit = chooseByteUnit(Math.max(peak, options.budgetBytes ?? 0));
  const present = new Set<MemoryCategory>();
  for (const p of sorted) for (const row of categoryRows(where, p.bytesByCategory, HOST_CATEGORIES)) present.add(row.category);
  const areas: Record<string, unknown>[] = [];
  // Every category at every point (zeros included) so the stacked areas line up.
  for (const p of sorted) {
    for (const category of present) {
      const bytes = p.bytesByCategory[category] ?? 0;
      areas.push({ t: p.t, phase: p.phase ?? "", category: MEMORY_CATEGORY_LABELS[category], order: [...present].indexOf(category), value: bytes / unit.bytes, size: formatBytes(bytes) });
    }
  }
  const phases: Record<string, unknown>[] = [];
  sorted.forEach((p, i) => {
    if (p.phase && (i === 0 || p.phase !== sorted[i - 1].phase)) phases.push({ t: p.t, phase: p.phase });
  });
  const x = { field: "t", type: "quantitative", title: options.xTitle ?? "time in the step (ms)" };
  const layers: Record<string, unknown>[] = [
    {
      data: { values: areas },
      mark: { type: "area", interpolate: "step-after", line: false },
      encoding: {
        x,
        y: { field: "value", type: "quantitative", stack: "zero", title: `resident on the device (${unit.name})` },
        color: { field: "category", type: "nominal", title: "what the bytes are", scale: memoryColorScale(present), legend: { symbolType: "square", orient: "bottom", direction: "vertical", columns: 2 } },
        order: { field: "order", type: "quantitative" },
        tooltip: [{ field: "t", title: "t" }, { field: "phase" }, { field: "category" }, { field: "size", title: "bytes" }],
      },
    },
  ];
  if (phases.length > 0)
    layers.push(
      { data: { values: phases }, mark: { type: "rule", color: "#555555", strokeDash: [2, 3] }, encoding: { x } },
      { data: { values: phases }, mark: { type: "text", align: "left", baseline: "top", dx: 3, y: 2, fontSize: 10, color: "#333333" }, encoding: { x, text: { field: "phase" } } },
    );
  if (options.budgetBytes !== undefined) {
    // Labelled right of the plot, as in memoryChart, so the label never covers the areas or phase names.
    const line = { value: options.budgetBytes / unit.bytes, text: [options.budgetLabel ?? "device budget", formatBytes(options.budgetBytes)] };
    layers.push(
      { data: { values: [line] }, mark: { type: "rule", color: "#d62728", strokeDash: [6, 4], strokeWidth: 2 }, encoding: { y: { field: "value", type: "quantitative" } } },
      { data: { values: [line] }, mark: { type: "text", align: "left", baseline: "middle", dx: 6, color: "#d62728", fontSize: 11, lineHeight: 13, x: "width" }, encoding: { y: { field: "value", type: "quantitative" }, text: { field: "text" } } },
    );
  }
  const spec = topLevelSpec({
    title: { text: options.title ?? "Memory during one training step", subtitle: `stacked by category; peak ${formatBytes(peak)}${peakAt.phase ? ` during ${peakAt.phase}` : ""}` },
    width: options.width ?? 560,
    height: options.height ?? 280,
    layer: layers,
  });
  return new Chart(spec, `Memory timeline: ${sorted.length} points, peak ${formatBytes(peak)} at t=${peakAt.t}${peakAt.phase ? ` (${peakAt.phase})` : ""}`);
}
