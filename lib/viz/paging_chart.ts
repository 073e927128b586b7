// Optimizer paging per step: pages moved in and out, bytes moved, and the time spent paging beside
// the time of the step it happened in, so a learner sees what paging costs (and when it happens).
import { InvalidArgumentError, expected } from "../errors.js";
import { Chart, topLevelSpec } from "./chart.js";
import { chooseByteUnit, formatBytes, formatNumber } from "../format.js";
import type { PagingRecord } from "./records.js";
import { requireArray, requireNonNegative } from "../validate.js";

/** Options of {@link pagingChart}. */
export interface PagingChartOptions {
  title?: string;
  width?: number;
  /**
   * Wall time of each whole training step (forward, backward and optimizer), in ms, e.g. the time between
   * two steps' records. Drawn as the step time; without it the chart draws the optimizer step's own time.
   */
  stepTimes?: readonly { step: number; ms: number }[];
}

/** Three aligned panels over training steps: pages in/out, bytes moved, and the step's time with the paging time in it. */
export function pagingChart(records: readonly PagingRecord[], options: PagingChartOptions = {}): Chart {
  const where = "pagingChart";
  requireArray(where, "records", records);
  if (records.length === 0) throw new InvalidArgumentError(where, expected("at least one paging record", "[]"));
  for (const r of records) {
    for (const k of ["step", "pagesIn", "pagesOut", "bytesIn", "bytesOut", "stepMs"] as const) requireNonNegative(where, `record.${k}`, r[k]);
    if (r.pagingMs !== undefined) requireNonNegative(where, "record.pagingMs", r.pagingMs);
  }
  const sorted = [...records].sort((a, b) => a.step - b.step);
  const unit = chooseByteUnit(Math.max(...sorted.map((r) => Math.max(r.bytesIn, r.bytesOut))));
  const pages: Record<string, unknown>[] = [];
  const bytes: Record<string, unknown>[] = [];
  for (const r of sorted) {
    pages.push({ step: r.step, direction: "in (host → device)", pages: r.pagesIn }, { step: r.step, direction: "out (device → host)", pages: -r.pagesOut });
    bytes.push({ step: r.step, direction: "in (host → device)", value: r.bytesIn / unit.bytes }, { step: r.step, direction: "out (device → host)", value: r.bytesOut / unit.bytes });
  }
  const given = options.stepTimes;
  if (given !== undefined) {
    requireArray(where, "stepTimes", given);
    for (const t of given) (requireNonNegative(where, "stepTimes.step", t?.step), requireNonNegative(where, "stepTimes.ms", t?.ms));
  }
  const stepName = given ? "whole training step" : "optimizer step";
  const times: Record<string, unknown>[] = [];
  for (const r of sorted) {
    const ms = given ? given.find((t) => t.step === r.step)?.ms : r.stepMs;
    if (ms !== undefined) times.push({ step: r.step, what: stepName, ms });
    if (r.pagingMs !== undefined) times.push({ step: r.step, what: "paging in it", ms: r.pagingMs });
  }
  const timeColor = { field: "what", type: "nominal", title: "time", scale: { domain: [stepName, "paging in it"], range: ["#54a24b", "#b279a2"] } };
  const domain = [sorted[0].step - 0.5, sorted[sorted.length - 1].step + 0.5];
  const x = (title: string | null) => ({ field: "step", type: "quantitative", title, scale: { domain, nice: false }, axis: { tickMinStep: 1, format: "d" } });
  const color = { field: "direction", type: "nominal", title: "direction", scale: { domain: ["in (host → device)", "out (device → host)"], range: ["#4c78a8", "#f58518"] } };
  const width = options.width ?? 560;
  const barWidth = Math.max(1, Math.min(14, (0.7 * width) / sorted.length));
  const spec = topLevelSpec({
    title: { text: options.title ?? "Optimizer paging per step", subtitle: [
        "paged optimizer state moves between device and host;",
        given ? "bottom: wall time of each whole training step (forward + backward + optimizer) and the paging in it" : "bottom: wall time of each optimizer update (not the whole training step) and the paging in it",
      ] },
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
        // Out is dashed over in: at a steady state the two lines coincide and both stay visible.
        encoding: { x: x(null), y: { field: "value", type: "quantitative", title: `bytes moved (${unit.name})` }, color: { ...color, legend: null }, strokeDash: { field: "direction", type: "nominal", scale: { domain: ["in (host → device)", "out (device → host)"], range: [[1, 0], [5, 3]] }, legend: null }, tooltip: [{ field: "step" }, { field: "direction" }, { field: "value", format: ".3~g", title: unit.name }] },
      },
      {
        width,
        height: 100,
        data: { values: times },
        mark: { type: "line", point: true },
        encoding: {
          x: x("training step"),
          y: { field: "ms", type: "quantitative", title: "ms per step" },
          color: timeColor,
          tooltip: [{ field: "step" }, { field: "what" }, { field: "ms", format: ".1f", title: "ms" }],
        },
      },
    ],
    resolve: { scale: { color: "independent" } },
  });
  const moved = sorted.reduce((s, r) => s + r.bytesIn + r.bytesOut, 0);
  const stepMs = times.filter((t) => t.what === stepName).map((t) => t.ms as number);
  const meanMs = stepMs.reduce((s, v) => s + v, 0) / Math.max(1, stepMs.length);
  return new Chart(spec, `Paging over ${sorted.length} steps: ${sorted.reduce((s, r) => s + r.pagesIn, 0)} pages in, ${sorted.reduce((s, r) => s + r.pagesOut, 0)} out, ${formatBytes(moved)} moved, mean ${stepName} ${formatNumber(meanMs, 3)} ms`);
}
