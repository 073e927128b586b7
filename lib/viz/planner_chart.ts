// The planner's "where it works" picture: estimated memory of each model size x method (stacked by
// category, the planner's runtime share on top) next to a grid of which memory tiers (4 to 80 GiB:
// laptops' RAM, then GPUs) hold it, and how many of the largest a run past it spans, as in the QLoRA
// paper's comparison. Every figure is in GiB (an "80 GB" GPU holds 80 GiB).
import { InvalidArgumentError, expected } from "../errors.js";
import { Chart, topLevelSpec } from "./chart.js";
import { formatBytes } from "../format.js";
import { HOST_CATEGORIES, categoryRows, totalBytes } from "./memory_rows.js";
import { memoryColorScale } from "./palette.js";
import type { GpuSpec, PlannerRow } from "./records.js";
import { requireArray, requireString } from "../validate.js";
import type { PlanCategory } from "../plan/planner.js";
import { DEVICE_TIERS_GIB, deviceFit, describeDeviceFit } from "../plan/device_fit.js";
import { MEMORY_CATEGORIES, type MemoryCategory } from "../memory/types.js";

/** The memory tiers of lib/plan's deviceFit, 4 to 80 GiB, named in GiB. */
export const DEFAULT_GPUS: readonly GpuSpec[] = DEVICE_TIERS_GIB.map((gib) => ({ name: `${gib} GiB`, bytes: gib * 2 ** 30 }));

/** The fit grid's three states: one device of the tier holds it, several of the largest do, or neither. */
export const FIT_STATES = ["fits", "fits across several", "too big"] as const;

/**
 * A row as lib/memory's planByCategory gives it: memory categories plus "runtime", the CUDA context
 * and allocator slack a CUDA plan adds (not a tensor, so not a ledger category).
 */
export interface PlannerChartRow extends Omit<PlannerRow, "bytesByCategory"> {
  bytesByCategory: Partial<Record<PlanCategory, number>>;
}

/** Legend name of the planner's runtime share. */
export const RUNTIME_LABEL = "runtime (CUDA context, allocator)";
/** Its colour: Tableau 10's purple, which no memory category uses. */
export const RUNTIME_COLOR = "#b279a2";

/** Options of {@link plannerChart}. */
export interface PlannerChartOptions {
  gpus?: readonly GpuSpec[];
  title?: string;
}

/**
 * Estimated memory per (model, method) against GPU sizes: stacked bars plus a fits / does-not-fit
 * grid. Rows take planByCategory's output as it is; a runtime share is drawn as its own segment and
 * counts toward what must fit, paged-out optimizer state does not (it lives in host memory).
 */
export function plannerChart(rows: readonly PlannerChartRow[], options: PlannerChartOptions = {}): Chart {
  const where = "plannerChart";
  requireArray(where, "rows", rows);
  if (rows.length === 0) throw new InvalidArgumentError(where, expected("at least one planner row", "[]"));
  const gpus = options.gpus ?? DEFAULT_GPUS;
  if (gpus.length === 0) throw new InvalidArgumentError(where, expected("at least one GPU", "[]"));
  const GiB = 2 ** 30;
  const names = rows.map((r) => `${requireString(where, "row.model", r.model)} ${requireString(where, "row.method", r.method)}`);
  const split = rows.map((r) => splitRuntime(where, r.bytesByCategory));
  const totals = split.map((r) => totalBytes(r.categories, HOST_CATEGORIES) + r.runtime);
  const present = new Set<MemoryCategory>();
  let anyRuntime = false;
  const bars: Record<string, unknown>[] = [];
  split.forEach((r, i) => {
    // Stacked by hand (x..x2) because Vega-Lite does not stack on a non-linear scale.
    let start = 0;
    for (const c of categoryRows(where, r.categories, HOST_CATEGORIES)) {
      present.add(c.category);
      bars.push({ row: names[i], category: c.name, order: c.order, x: start / GiB, x2: (start + c.bytes) / GiB, size: formatBytes(c.bytes) });
      start += c.bytes;
    }
    if (r.runtime > 0) {
      anyRuntime = true;
      bars.push({ row: names[i], category: RUNTIME_LABEL, order: MEMORY_CATEGORIES.length, x: start / GiB, x2: (start + r.runtime) / GiB, size: formatBytes(r.runtime) });
    }
  });
  const colors = memoryColorScale(present);
  if (anyRuntime) {
    colors.domain.push(RUNTIME_LABEL);
    colors.range.push(RUNTIME_COLOR);
  }
  // The largest tier's cell says how many such devices a run past it spans ("2 x"), as the tables do.
  const tiersGiB = gpus.map((g) => g.bytes / GiB);
  const fitsByRow = totals.map((t) => deviceFit(t, tiersGiB));
  const grid: Record<string, unknown>[] = [];
  rows.forEach((_, i) => {
    gpus.forEach((gpu, j) => {
      const fits = totals[i] <= gpu.bytes;
      const several = !fits && j === gpus.length - 1;
      const state = fits ? FIT_STATES[0] : several ? FIT_STATES[1] : FIT_STATES[2];
      grid.push({ row: names[i], gpu: gpu.name, fits: state, mark: fits ? "✓" : several ? `${fitsByRow[i]!.devicesOfLargest} ×` : "✗", need: formatBytes(totals[i]) });
    });
  });
  // The axis ends a little past the longest bar or the largest tier, so neither is clipped at the edge.
  const axisEnd = 1.08 * Math.max(...totals.map((t) => t / GiB), ...gpus.map((g) => g.bytes / GiB));
  const y = { field: "row", type: "nominal", sort: names, title: null, axis: { labelFontSize: 12 } };
  const rowStep = 26;
  const spec = topLevelSpec({
    title: { text: options.title ?? "Where fine-tuning fits", subtitle: "estimated device memory per model and method, in GiB (dotted lines: memory tiers); right: which tiers hold it, and how many of the largest a bigger run spans" },
    hconcat: [
      {
        width: 360,
        height: { step: rowStep },
        layer: [
          {
            data: { values: bars },
            mark: { type: "bar" },
            encoding: {
              y,
              x: { field: "x", type: "quantitative", title: "estimated memory (GiB; symlog axis: linear below 4, logarithmic above)", scale: { type: "symlog", constant: 4, domain: [0, axisEnd], nice: false }, axis: { values: [0, 4, 8, 16, 32, 64, 128, 256, 512, 1024].filter((v) => v <= axisEnd) } },
              x2: { field: "x2" },
              color: { field: "category", type: "nominal", title: "what the bytes are", scale: colors, legend: { orient: "bottom", columns: 3 } },
              order: { field: "order", type: "quantitative" },
              tooltip: [{ field: "row", title: "setup" }, { field: "category" }, { field: "size", title: "bytes" }],
            },
          },
          {
            data: { values: gpus.map((g) => ({ gpu: g.name, value: g.bytes / GiB })) },
            mark: { type: "rule", color: "#888888", strokeDash: [3, 3] },
            encoding: { x: { field: "value", type: "quantitative" } },
          },
          {
            data: { values: gpus.map((g) => ({ gpu: String(Math.round(g.bytes / GiB)), value: g.bytes / GiB })) },
            mark: { type: "text", y: -6, fontSize: 9, color: "#666666", baseline: "bottom" },
            encoding: { x: { field: "value", type: "quantitative" }, text: { field: "gpu" } },
          },
        ],
      },
      {
        width: { step: 46 },
        height: { step: rowStep },
        data: { values: grid },
        encoding: { y: { ...y, axis: null }, x: { field: "gpu", type: "ordinal", sort: gpus.map((g) => g.name), title: "memory tier", axis: { orient: "top", labelAngle: 0 } } },
        layer: [
          {
            mark: { type: "rect", stroke: "white", strokeWidth: 2 },
            encoding: {
              color: { field: "fits", type: "nominal", title: "fits?", scale: { domain: [...FIT_STATES], range: ["#8fd18a", "#f2cf7e", "#eeeeee"] }, legend: { orient: "bottom" } },
              tooltip: [{ field: "row", title: "setup" }, { field: "gpu" }, { field: "need", title: "needs" }, { field: "fits" }],
            },
          },
          { mark: { type: "text", fontSize: 13 }, encoding: { text: { field: "mark" }, color: { condition: { test: "datum.fits !== 'too big'", value: "#1b3a1b" }, value: "#999999" } } },
        ],
      },
    ],
    resolve: { scale: { color: "independent" }, legend: { color: "independent" } },
  });
  const summary = rows.map((_, i) => `${names[i]} ${formatBytes(totals[i])} -> ${describeDeviceFit(fitsByRow[i]!)}`).join("; ");
  return new Chart(spec, `Planner: ${summary}`);
}

/** Separates the planner's runtime share (validated like a category's bytes) from the memory categories. */
function splitRuntime(where: string, bytesByCategory: Partial<Record<PlanCategory, number>>): { categories: Partial<Record<MemoryCategory, number>>; runtime: number } {
  if (typeof bytesByCategory !== "object" || bytesByCategory === null) throw new InvalidArgumentError(where, expected("bytesByCategory to be an object of category -> bytes", bytesByCategory));
  const { runtime, ...categories } = bytesByCategory;
  if (runtime !== undefined && (typeof runtime !== "number" || !Number.isFinite(runtime) || runtime < 0)) {
    throw new InvalidArgumentError(where, expected("bytes of runtime to be a finite number >= 0", runtime));
  }
  return { categories, runtime: runtime ?? 0 };
}
