// Memory per layer and component: a heatmap (layer x component) of resident bytes, to show which
// parts of the network hold the memory (and how small the LoRA factors are next to the base).
import { InvalidArgumentError, expected } from "../errors.js";
import { Chart, topLevelSpec } from "./chart.js";
import { chooseByteUnit, formatBytes } from "../format.js";
import type { LayerMemoryRow } from "./records.js";
import { requireArray, requireNonNegative } from "../validate.js";

/** Options of {@link layerMemoryChart}. */
export interface LayerMemoryOptions {
  title?: string;
  /** Pixels per cell side. Default 36 wide x 22 high. */
  cellWidth?: number;
  cellHeight?: number;
  /** "log" (default: the factors span orders of magnitude) or "linear" colour scale. */
  colorScale?: "log" | "linear";
}

/** A heatmap of bytes per (layer, component); rows with the same pair are summed. */
export function layerMemoryChart(rows: readonly LayerMemoryRow[], options: LayerMemoryOptions = {}): Chart {
  const where = "layerMemoryChart";
  requireArray(where, "rows", rows);
  if (rows.length === 0) throw new InvalidArgumentError(where, expected("at least one row", "[]"));
  const cells = new Map<string, { layer: string; component: string; bytes: number }>();
  const layers: (number | string)[] = [];
  const components: string[] = [];
  for (const row of rows) {
    requireNonNegative(where, "row.bytes", row.bytes);
    if (!layers.includes(row.layer)) layers.push(row.layer);
    if (!components.includes(row.component)) components.push(row.component);
    const key = `${row.layer}\u0000${row.component}`;
    const cell = cells.get(key) ?? { layer: String(row.layer), component: row.component, bytes: 0 };
    cell.bytes += row.bytes;
    cells.set(key, cell);
  }
  const numeric = layers.every((l) => typeof l === "number");
  const layerOrder = (numeric ? [...layers].sort((a, b) => (a as number) - (b as number)) : layers).map(String);
  const max = Math.max(...[...cells.values()].map((c) => c.bytes));
  const min = Math.min(...[...cells.values()].map((c) => c.bytes));
  const unit = chooseByteUnit(max);
  const values = [...cells.values()].map((c) => ({ ...c, value: c.bytes / unit.bytes, size: formatBytes(c.bytes) }));
  const log = (options.colorScale ?? "log") === "log" && values.every((v) => v.bytes > 0);
  // Cells darker than ~60% of the colour ramp get white text.
  const dark = log ? Math.exp(Math.log(min) + 0.6 * (Math.log(max) - Math.log(min))) : min + 0.6 * (max - min);
  const cellW = options.cellWidth ?? 44;
  const cellH = options.cellHeight ?? 22;
  const showText = values.length <= 160;
  const x = { field: "component", type: "nominal", sort: components, title: "component", axis: { labelAngle: -30 } };
  const y = { field: "layer", type: "ordinal", sort: layerOrder, title: "layer" };
  const spec = topLevelSpec({
    title: { text: options.title ?? "Memory per layer and component", subtitle: `colour: resident ${unit.name}${log ? " (log scale)" : ""}` },
    width: { step: cellW },
    height: { step: cellH },
    data: { values },
    encoding: { x, y },
    layer: [
      {
        mark: { type: "rect", stroke: "white", strokeWidth: 1 },
        encoding: {
          color: { field: "value", type: "quantitative", title: unit.name, scale: { type: log ? "log" : "linear", scheme: "blues" }, legend: { format: ".3~g" } },
          tooltip: [{ field: "layer" }, { field: "component" }, { field: "size", title: "bytes" }],
        },
      },
      ...(showText
        ? [{ mark: { type: "text", fontSize: 9 }, encoding: { text: { field: "value", type: "quantitative", format: ".3~g" }, color: { condition: { test: `datum.value > ${dark / unit.bytes}`, value: "white" }, value: "#222222" } } }]
        : []),
    ],
  });
  const total = values.reduce((s, v) => s + v.bytes, 0);
  return new Chart(spec, `Memory per layer: ${layerOrder.length} layers x ${components.length} components, total ${formatBytes(total)}, largest cell ${formatBytes(max)}`);
}
