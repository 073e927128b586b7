// Charts for adapter initialisations against the quantization error: the residual
// ||W - Q - scaling B A|| / ||W|| of every adapted linear, one panel per decoder layer, a bar per
// initialisation; and eval-loss curves over seeds (mean line, min-max band) per initialisation.
import { InvalidArgumentError, expected } from "../errors.js";
import { formatNumber } from "../format.js";
import { requireArray } from "../validate.js";
import { Chart, topLevelSpec } from "./chart.js";
import { colorScale } from "./palette.js";

/** One adapted linear under one initialisation. */
export interface InitResidualRow {
  /** Decoder layer index. */
  layer: number;
  /** The linear's name inside the layer ("q_proj", "down_proj"). */
  component: string;
  /** The initialisation ("default", "LoftQ", "PiSSA"). */
  init: string;
  /** ||W - Q - scaling B A||_F / ||W||_F before training. */
  relative: number;
}

/** Options of {@link initResidualChart}. */
export interface InitResidualChartOptions {
  title?: string;
  /** Width of each layer's panel in pixels (default 460). */
  width?: number;
}

/** The residual each initialisation leaves, per linear, a panel per decoder layer. */
export function initResidualChart(rows: readonly InitResidualRow[], options: InitResidualChartOptions = {}): Chart {
  const where = "initResidualChart";
  requireArray(where, "rows", rows);
  if (rows.length === 0) throw new InvalidArgumentError(where, expected("at least one row", "[]"));
  for (const row of rows) if (!(Number.isFinite(row.relative) && row.relative >= 0)) throw new InvalidArgumentError(where, expected("row.relative, a non-negative number", row.relative));
  const inits = [...new Set(rows.map((r) => r.init))];
  const components = [...new Set(rows.map((r) => r.component))];
  const values = rows.map((r) => ({ ...r, layerLabel: `layer ${r.layer}`, percent: 100 * r.relative }));
  const layerOrder = [...new Set(rows.map((r) => r.layer))].sort((a, b) => a - b).map((l) => `layer ${l}`);
  const spec = topLevelSpec({
    title: { text: options.title ?? "What each initialisation leaves of W before training", subtitle: "bar: ||W - Q - scaling·B·A|| / ||W|| per linear (Q: the 4-bit base the run trains on)" },
    data: { values },
    facet: { row: { field: "layerLabel", type: "nominal", sort: layerOrder, title: null, header: { labelAngle: 0, labelAlign: "left", labelFontSize: 12 } } },
    spec: {
      width: options.width ?? 460,
      height: 90,
      mark: { type: "bar" },
      encoding: {
        x: { field: "component", type: "nominal", sort: components, title: null, axis: { labelAngle: 0 } },
        xOffset: { field: "init", type: "nominal", sort: inits },
        y: { field: "percent", type: "quantitative", title: "% of ||W||", axis: { tickCount: 3 } },
        color: { field: "init", type: "nominal", title: "init", sort: inits, scale: colorScale(inits) },
        tooltip: [{ field: "layerLabel", title: "layer" }, { field: "component" }, { field: "init" }, { field: "percent", type: "quantitative", format: ".3f", title: "% of ||W||" }],
      },
    },
    resolve: { scale: { y: "shared" } },
  });
  const mean = (init: string) => {
    const own = rows.filter((r) => r.init === init);
    return own.reduce((s, r) => s + r.relative, 0) / own.length;
  };
  return new Chart(spec, `Residual per linear: ${inits.map((i) => `${i} mean ${formatNumber(100 * mean(i))} % of ||W||`).join(", ")}`);
}

/** One initialisation's eval loss at one step over several seeds. */
export interface SeedSpreadRow {
  init: string;
  step: number;
  mean: number;
  min: number;
  max: number;
}

/** Options of {@link seedSpreadChart}. */
export interface SeedSpreadChartOptions {
  title?: string;
  /** Number of seeds behind each point (shown in the subtitle). */
  seeds?: number;
  /** "linear" (default) or "log" loss axis. */
  yScale?: "linear" | "log";
  width?: number;
  height?: number;
}

/** Eval loss per initialisation: the mean over seeds as a line, the smallest to largest seed as a band. */
export function seedSpreadChart(rows: readonly SeedSpreadRow[], options: SeedSpreadChartOptions = {}): Chart {
  const where = "seedSpreadChart";
  requireArray(where, "rows", rows);
  if (rows.length === 0) throw new InvalidArgumentError(where, expected("at least one row", "[]"));
  const inits = [...new Set(rows.map((r) => r.init))];
  const log = options.yScale === "log";
  // One legend for both layers (the band's faint fill would otherwise set its symbols' opacity).
  const color = { field: "init", type: "nominal", title: "init", sort: inits, scale: colorScale(inits), legend: { symbolType: "stroke", symbolOpacity: 1, symbolStrokeWidth: 3 } };
  const x = { field: "step", type: "quantitative", title: "training step", axis: { tickMinStep: 1 } };
  const yScale = log ? { type: "log" } : { zero: false };
  const seeds = options.seeds ? `${options.seeds} seeds` : "seeds";
  const spec = topLevelSpec({
    title: { text: options.title ?? "Eval loss by initialisation", subtitle: `line: mean over ${seeds}; band: smallest to largest seed${log ? "; log scale" : ""}` },
    width: options.width ?? 560,
    height: options.height ?? 300,
    data: { values: rows.map((r) => ({ ...r })) },
    layer: [
      { mark: { type: "area", opacity: 0.2 }, encoding: { x, y: { field: "min", type: "quantitative", title: "eval loss", scale: yScale }, y2: { field: "max" }, color } },
      {
        mark: { type: "line", strokeWidth: 2.5, point: { filled: true, size: 30 } },
        encoding: {
          x,
          y: { field: "mean", type: "quantitative", title: "eval loss", scale: yScale },
          color,
          tooltip: [{ field: "init" }, { field: "step", type: "quantitative" }, { field: "mean", type: "quantitative", format: ".4f" }, { field: "min", type: "quantitative", format: ".4f" }, { field: "max", type: "quantitative", format: ".4f" }],
        },
      },
    ],
  });
  const last = inits.map((init) => {
    const own = rows.filter((r) => r.init === init).sort((a, b) => a.step - b.step);
    const end = own[own.length - 1]!;
    return `${init} ${formatNumber(end.mean)} at step ${end.step}`;
  });
  return new Chart(spec, `Eval loss by initialisation (mean over ${seeds}): ${last.join(", ")}`);
}
