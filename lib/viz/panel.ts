// Several charts as one displayable (Vega-Lite vconcat / hconcat): one output, one PNG.
import { InvalidArgumentError, expected } from "../errors.js";
import { Chart, topLevelSpec } from "./chart.js";

/** Options of {@link panel}. */
export interface PanelOptions {
  /** "vertical" (default) stacks the charts; "horizontal" puts them side by side. */
  direction?: "vertical" | "horizontal";
  title?: string;
}

/** Keys only a top-level Vega-Lite spec may carry; they are dropped from the parts. */
const TOP_LEVEL_ONLY = ["$schema", "config", "autosize", "background", "padding", "usermeta", "params"];

/** Combines charts into one chart; each keeps its own title, data and scales. */
export function panel(charts: readonly Chart[], options: PanelOptions = {}): Chart {
  if (!Array.isArray(charts) || charts.length === 0 || !charts.every((c) => c instanceof Chart))
    throw new InvalidArgumentError("panel", expected("a non-empty array of charts", charts, "Pass the values lossChart(), memoryChart() and friends return."));
  const parts = charts.map((c) => Object.fromEntries(Object.entries(c.spec).filter(([k]) => !TOP_LEVEL_ONLY.includes(k))));
  const key = options.direction === "horizontal" ? "hconcat" : "vconcat";
  const spec = topLevelSpec({ ...(options.title ? { title: options.title } : {}), [key]: parts, spacing: 32, resolve: { scale: { color: "independent" }, legend: { color: "independent" } } });
  return new Chart(spec, `${options.title ? `${options.title}: ` : ""}${charts.map((c) => c.summary).join(" | ")}`);
}
