// Where each byte goes: a stacked bar by memory category per configuration (LoRA and QLoRA side by
// side), against a device budget line. Bytes paged out to the host are drawn too, stacked above the
// device part in a pale, outlined segment, so the bar's full height is everything the run holds and
// the part under the budget line is what the device holds.
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

/** A stacked bar per snapshot (device bytes by category, host bytes above them), with the device budget as a dashed line. */
export function memoryChart(snapshots: readonly MemorySnapshot[], options: MemoryChartOptions = {}): Chart {
  const where = "memoryChart";
  requireArray(where, "snapshots", snapshots);
  if (snapshots.length === 0) throw new InvalidArgumentError(where, expected("at least one snapshot", "[]"));
  const budget = options.budgetBytes;
  if (budget !== undefined && !(Number.isFinite(budget) && budget > 0)) throw new InvalidArgumentError(where, expected("budgetBytes > 0", budget));
  const labels = snapshots.map((s) => requireString(where, "snapshot.label", s?.label));
  const device = snapshots.map((s) => totalBytes(s.bytesByCategory, HOST_CATEGORIES));
  const host = snapshots.map((s) => totalBytes(s.bytesByCategory) - totalBytes(s.bytesByCategory, HOST_CATEGORIES));
  const anyHost = host.some((h) => h > 0);
  const unit = chooseByteUnit(Math.max(...device.map((d, i) => d + host[i]!), budget ?? 0));
  const bars: Record<string, unknown>[] = [];
  const categories = new Set<ReturnType<typeof categoryRows>[number]["category"]>();
  snapshots.forEach((s, i) => {
    // Device categories first (stacked from zero), then the host ones on top of them.
    for (const row of [...categoryRows(where, s.bytesByCategory, HOST_CATEGORIES), ...categoryRows(where, pick(s.bytesByCategory, HOST_CATEGORIES))]) {
      categories.add(row.category);
      const onHost = HOST_CATEGORIES.includes(row.category);
      bars.push({ label: labels[i], category: row.name, order: row.order + (onHost ? 1000 : 0), value: row.bytes / unit.bytes, size: formatBytes(row.bytes), where: onHost ? "host" : "device" });
    }
  });
  // One line per fact above each bar (line 0 nearest the bar), so a long label never runs into its neighbour's.
  const totals = snapshots.flatMap((_, i) => {
    const lines = host[i]! > 0 ? [`${formatBytes(device[i]!)} on device`, `+ ${formatBytes(host[i]!)} on host`] : [formatBytes(device[i]!)];
    return lines.map((text, k) => ({ label: labels[i], value: (device[i]! + host[i]!) / unit.bytes, text, line: lines.length - 1 - k }));
  });
  const lineCount = Math.max(...totals.map((t) => t.line)) + 1;
  const width = options.width ?? Math.max(240, 150 * snapshots.length);
  // Long setup names wrap within their band, so neighbouring labels never overprint.
  const labelAxis = wrappedLabelAxis(labels, (0.9 * width) / snapshots.length - 6, 12);
  const x = { field: "label", type: "nominal", title: null, sort: labels, axis: { labelAngle: 0, labelFontSize: 12, ...labelAxis } };
  const yTitle = anyHost ? [`bytes (${unit.name})`, "solid: on the device, pale: on the host"] : `resident on the device (${unit.name})`;
  const layers: Record<string, unknown>[] = [
    {
      data: { values: bars },
      mark: { type: "bar", width: { band: 0.6 } },
      encoding: {
        x,
        y: { field: "value", type: "quantitative", stack: "zero", title: yTitle },
        color: { field: "category", type: "nominal", title: "what the bytes are", scale: memoryColorScale(categories), legend: { orient: "bottom", direction: "vertical", columns: 2 } },
        order: { field: "order", type: "quantitative" },
        // Host segments carry a dashed outline: they are not in device memory.
        stroke: { condition: { test: "datum.where === 'host'", value: "#5a9e98" }, value: null },
        strokeDash: { condition: { test: "datum.where === 'host'", value: [4, 3] }, value: [1, 0] },
        tooltip: [{ field: "label", title: "setup" }, { field: "category" }, { field: "where", title: "held on" }, { field: "size", title: "bytes" }],
      },
    },
    ...Array.from({ length: lineCount }, (_, k) => ({
      data: { values: totals.filter((t) => t.line === k) },
      mark: { type: "text", baseline: "bottom", dy: -4 - 13 * k, fontSize: 11 },
      encoding: { x, y: { field: "value", type: "quantitative" }, text: { field: "text" } },
    })),
  ];
  if (budget !== undefined) {
    // The budget's label sits outside the plot, right of the line's end, where no bar or label can be.
    const line = { value: budget / unit.bytes, text: [options.budgetLabel ?? "device budget", formatBytes(budget)] };
    layers.push(
      { data: { values: [line] }, mark: { type: "rule", color: "#d62728", strokeDash: [6, 4], strokeWidth: 2 }, encoding: { y: { field: "value", type: "quantitative" } } },
      { data: { values: [line] }, mark: { type: "text", align: "left", baseline: "middle", dx: 6, color: "#d62728", fontSize: 11, lineHeight: 13, x: "width" }, encoding: { y: { field: "value", type: "quantitative" }, text: { field: "text" } } },
    );
  }
  const spec = topLevelSpec({
    title: {
      text: options.title ?? "Where the memory goes",
      subtitle: (anyHost ? "bytes by category, paged-out bytes above the device part" : "resident bytes by category") + (budget !== undefined ? "; dashed line: device budget" : ""),
    },
    width,
    height: options.height ?? 320,
    layer: layers,
  });
  const parts = snapshots.map((s, i) => `${labels[i]} ${formatBytes(device[i]!)}${host[i]! > 0 ? ` (+${formatBytes(host[i]!)} host)` : ""}`);
  const fits = budget === undefined ? "" : `; budget ${formatBytes(budget)}: ${snapshots.map((_, i) => `${labels[i]} ${device[i]! <= budget ? "fits" : "does not fit"}`).join(", ")}`;
  return new Chart(spec, `Memory by category: ${parts.join(", ")}${fits}`);
}

/** The entries of `bytes` whose category is in `keep`. */
function pick<K extends string>(bytes: Partial<Record<K, number>>, keep: readonly K[]): Partial<Record<K, number>> {
  return Object.fromEntries(Object.entries(bytes).filter(([k]) => keep.includes(k as K))) as Partial<Record<K, number>>;
}
