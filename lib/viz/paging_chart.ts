// Optimizer paging per step: pages moved in and out, bytes moved, and the step time next to them,
// so a learner sees what paging costs (and when it happens).
import { InvalidArgumentError, expected } from "../errors.js";
import { Chart, topLevelSpec } from "./chart.js";
import { chooseByteUnit, formatBytes, formatNumber } from "../format.js";
import type { PagingRecord } from "./records.js";
import { requireArray, requireNonNegative } from "../validate.js";

/** Options of {@link pagingChart}. */
export interface PagingChartOptions {
  title?: string;
  width?: number;
}

/** Three aligned panels over training steps: pages in/out, bytes moved, step time. */
export function pagingChart(records: readonly PagingRecord[], options: PagingChartOptions = {}): Chart {
  const where = "pagingChart";
  requireArray(where, "records", records);
  if (records.length === 0) throw new InvalidArgumentError(where, expected("at least one paging record", "[]"));
  for (const r of records) for (const k of ["step", "pagesIn", "pagesOut", "bytesIn", "bytesOut", "stepMs"] as const) requireNonNegative(where, `record.${k}`, r[k]);
  const sorted = [...records].sort((a, b) => a.step - b.step);
  const unit = chooseByteUnit(Math.max(...sorted.map((r) => Math.max(r.bytesIn, r.bytesOut))));
  const pages: Record<string, unknown>[] = [];
  const bytes: Record<string, unknown>[] = [];
  for (const r of sorted) {
    pages.push({ step: r.step, direction: "in (host → device)", pages: r.pagesIn }, { step: r.step, direction: "out (device → host)", pages: -r.pagesOut });
    bytes.push({ step: r.step, direction: "in (host → device)", value: r.bytesIn / unit.bytes }, { step: r.step, direction: "out (device → host)", value: r.bytesOut / unit.bytes });
  }
  const steps = sorted.map((r) => ({ step: r.step, stepMs: r.stepMs }));
  const domain = [sorted[0].step - 0.5, sorted[sorted.length - 1].step + 0.5];
  const x = (title: string | null) => ({ field: "step", type: "quantitative", title, scale: { domain, nice: false }, axis: { tickMinStep: 1, format: "d" } });
  const color = { field: "direction", type: "nominal", title: "direction", scale: { domain: ["in (host → device)", "out (device → host)"], range: ["#4c78a8", "#f58518"] } };
  const width = options.width ?? 560;
  const barWidth = Math.max(1, Math.min(14, (0.7 * width) / sorted.length));
  const spec = topLevelSpec({
    title: { text: options.title ?? "Optimizer paging per step", subtitle: "paged optimizer state moves between device and host; compare with the step time" },
    vconcat: [
      {
        width,
        height: 120,
        data: { values: pages },
        mark: { type: "bar", width: barWidth },
        encoding: { x: x(null), y: { field: "pages", type: "quantitative", stack: null, title: ["pages moved", "(in up, out down)"] }, color, tooltip: [{ field: "step" }, { field: "direction" }, { field: "pages", title: "pages (out negative)" }] },
      },
      {
        width,
        height: 100,
        data: { values: bytes },
        mark: { type: "line", point: true },
        encoding: { x: x(null), y: { field: "value", type: "quantitative", title: `bytes moved (${unit.name})` }, color, tooltip: [{ field: "step" }, { field: "direction" }, { field: "value", format: ".3~g", title: unit.name }] },
      },
      {
        width,
        height: 100,
        data: { values: steps },
        mark: { type: "line", point: true, color: "#54a24b" },
        encoding: { x: x("training step"), y: { field: "stepMs", type: "quantitative", title: "step time (ms)" }, tooltip: [{ field: "step" }, { field: "stepMs", format: ".1f", title: "ms" }] },
      },
    ],
    resolve: { scale: { color: "shared" } },
  });
  const moved = sorted.reduce((s, r) => s + r.bytesIn + r.bytesOut, 0);
  const meanMs = sorted.reduce((s, r) => s + r.stepMs, 0) / sorted.length;
  return new Chart(spec, `Paging over ${sorted.length} steps: ${sorted.reduce((s, r) => s + r.pagesIn, 0)} pages in, ${sorted.reduce((s, r) => s + r.pagesOut, 0)} out, ${formatBytes(moved)} moved, mean step ${formatNumber(meanMs, 3)} ms`);
}
