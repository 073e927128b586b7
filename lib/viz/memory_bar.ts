// Where each byte goes: a stacked bar by memory category per configuration (LoRA and QLoRA side by
// side), against a device budget line. Bytes paged out to the host are noted, not stacked.
import { InvalidArgumentError, expected } from "../errors.js";
import { Chart, topLevelSpec } from "./chart.js";
import { chooseByteUnit, formatBytes } from "../format.js";
import { HOST_CATEGORIES, categoryRows, totalBytes } from "./memory_rows.js";
import { memoryColorScale } from "./palette.js";
import { wrappedLabelAxis } from "./axis_labels.js";
import type { MemorySnapshot } from "./records.js";
import { requireArray, requireString } from "../validate.js";

/** Options of {@link memoryChart}. */
export interface MemoryChartOptions {
  /** Device memory to draw as a line, in bytes (e.g. 16 * 2**30). */
  budgetBytes?: number;
  /** Name of the budget line. Default "device budget". */
  budgetLabel?: string;
  title?: string;
  width?: number;
  height?: number;
}

/** A stacked bar per snapshot (bytes by category), with the device budget as a dashed line. */
export function memoryChart(snapshots: readonly MemorySnapshot[], options: MemoryChartOptions = {}): Chart {
  const where = "memoryChart";
  requireArray(where, "snapshots", snapshots);
  if (snapshots.length === 0) throw new InvalidArgumentError(where, expected("at least one snapshot", "[]"));
  const budget = options.budgetBytes;
  if (budget !== undefined && !(Number.isFinite(budget) && budget > 0)) throw new InvalidArgumentError(where, expected("budgetBytes > 0", budget));
  const labels = snapshots.map((s) => requireString(where, "snapshot.label", s?.label));
  const device = snapshots.map((s) => totalBytes(s.bytesByCategory, HOST_CATEGORIES));
  const host = snapshots.map((s) => totalBytes(s.bytesByCategory) - totalBytes(s.bytesByCategory, HOST_CATEGORIES));
  const unit = chooseByteUnit(Math.max(...device, budget ?? 0));
  const bars: Record<string, unknown>[] = [];
  const categories = new Set<ReturnType<typeof categoryRows>[number]["category"]>();
  snapshots.forEach((s, i) => {
    for (const row of categoryRows(where, s.bytesByCategory, HOST_CATEGORIES)) {
      categories.add(row.category);
      bars.push({ label: labels[i], category: row.name, order: row.order, value: row.bytes / unit.bytes, size: formatBytes(row.bytes) });
    }
  });
  const totals = snapshots.map((_, i) => ({
    label: labels[i],
    value: device[i] / unit.bytes,
    text: `${formatBytes(device[i])}${host[i] > 0 ? ` (+${formatBytes(host[i])} on host)` : ""}`,
  }));
  const width = options.width ?? Math.max(240, 130 * snapshots.length);
  // Long setup names wrap within their band, so neighbouring labels never overprint.
  const labelAxis = wrappedLabelAxis(labels, (0.9 * width) / snapshots.length - 6, 12);
  const x = { field: "label", type: "nominal", title: null, sort: labels, axis: { labelAngle: 0, labelFontSize: 12, ...labelAxis } };
  const yTitle = `resident on the device (${unit.name})`;
  const layers: Record<string, unknown>[] = [
    {
      data: { values: bars },
      mark: { type: "bar", width: { band: 0.6 } },
      encoding: {
        x,
        y: { field: "value", type: "quantitative", stack: "zero", title: yTitle },
        color: { field: "category", type: "nominal", title: "what the bytes are", scale: memoryColorScale(categories) },
        order: { field: "order", type: "quantitative" },
        tooltip: [{ field: "label", title: "setup" }, { field: "category" }, { field: "size", title: "bytes" }],
      },
    },
    { data: { values: totals }, mark: { type: "text", dy: -8, fontSize: 11 }, encoding: { x, y: { field: "value", type: "quantitative" }, text: { field: "text" } } },
  ];
  if (budget !== undefined) {
    const line = { value: budget / unit.bytes, text: `${options.budgetLabel ?? "device budget"}: ${formatBytes(budget)}` };
    layers.push(
      { data: { values: [line] }, mark: { type: "rule", color: "#d62728", strokeDash: [6, 4], strokeWidth: 2 }, encoding: { y: { field: "value", type: "quantitative" } } },
      { data: { values: [line] }, mark: { type: "text", align: "right", dy: -6, color: "#d62728", fontSize: 11, x: "width" }, encoding: { y: { field: "value", type: "quantitative" }, text: { field: "text" } } },
    );
  }
  const spec = topLevelSpec({
    title: { text: options.title ?? "Where the memory goes", subtitle: "resident bytes by category" + (budget !== undefined ? ", dashed line: device memory" : "") },
    width,
    height: options.height ?? 320,
    layer: layers,
  });
  const parts = snapshots.map((s, i) => `${labels[i]} ${formatBytes(device[i])}${host[i] > 0 ? ` (+${formatBytes(host[i])} host)` : ""}`);
  const fits = budget === undefined ? "" : `; budget ${formatBytes(budget)}: ${snapshots.map((_, i) => `${labels[i]} ${device[i] <= budget ? "fits" : "does not fit"}`).join(", ")}`;
  return new Chart(spec, `Memory by category: ${parts.join(", ")}${fits}`);
}
