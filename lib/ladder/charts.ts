// The ladder's pictures: memory against parameters (measured points, the planner's line out to 70B,
// the memory tiers drawn) and speed against parameters (training and generation tokens/s with their
// spread), both on log axes, one colour per method. They take one ladder result or several (a
// default ladder and a 7B run under a budget, say) and draw every rung of all of them.
import { InvalidArgumentError, expected } from "../errors.js";
import { formatBytes } from "../format.js";
import { Chart, topLevelSpec } from "../viz/chart.js";
import { MEMORY_TIERS_GIB, type LadderMethod, type LadderResult, type LadderRung } from "./ladder.js";

/** What each method is called on the charts. */
export const LADDER_METHOD_LABELS: Readonly<Record<LadderMethod, string>> = { lora16: "LoRA, bf16 base", qlora: "QLoRA, NF4+DQ", lora32: "LoRA, f32 base" };
const METHOD_COLORS: Readonly<Record<LadderMethod, string>> = { lora16: "#4c78a8", qlora: "#e45756", lora32: "#9d755d" };

const GiB = 2 ** 30;

/** Parameter counts as people say them: 0.5 M, 135 M, 1.1 B, 70 B. */
const PARAMETERS_LABEL = "datum.value >= 1e9 ? format(datum.value / 1e9, '.3~g') + ' B' : format(datum.value / 1e6, '.3~g') + ' M'";

/** One ladder result or a list of them, as a list; anything without rungs is refused. */
export function requireResults(where: string, results: LadderResult | readonly LadderResult[]): readonly LadderResult[] {
  const list = Array.isArray(results) ? (results as readonly LadderResult[]) : [results as LadderResult];
  if (list.length === 0 || list.some((r) => !Array.isArray(r?.rungs))) {
    throw new InvalidArgumentError(where, expected("a ladder result ({ rungs, planned, ... }) or a list of them", list.length === 0 ? "[]" : "something without rungs"));
  }
  return list;
}

function methodColors(methods: Iterable<LadderMethod>): { domain: string[]; range: string[] } {
  const present = [...new Set(methods)].sort((a, b) => Object.keys(METHOD_COLORS).indexOf(a) - Object.keys(METHOD_COLORS).indexOf(b));
  return { domain: present.map((m) => LADDER_METHOD_LABELS[m]), range: present.map((m) => METHOD_COLORS[m]) };
}

/** "1 x 128 tokens" for each distinct batch x sequence length of the results. */
function shapesOf(results: readonly LadderResult[]): string {
  const shapes = [...new Set(results.filter((r) => r.settings).map((r) => `${r.settings.batch} x ${r.settings.seqLen}`))];
  return shapes.length > 0 ? `Steps of ${shapes.join(", ")} tokens; ` : "";
}

/** "measured on AMD EPYC, 2 cores" for each distinct machine of the results ("measured" when none is named). */
function machinesOf(results: readonly LadderResult[]): string {
  const machines = [...new Set(results.filter((r) => r.machine).map((r) => `${r.machine.cpu}, ${r.machine.cores} cores`))];
  return machines.length > 0 ? `measured on ${machines.join("; ")}` : "measured";
}

/** Options of {@link ladderMemoryChart}. */
export interface LadderMemoryChartOptions {
  title?: string;
}

/**
 * Peak memory against parameters, log-log: the ledger's peak and the process's peak RSS of every
 * measured rung, the planner's peak of a refused rung, and the planner's line per method through every
 * rung on to the 7B and 70B rows; horizontal rules mark the memory tiers.
 */
export function ladderMemoryChart(results: LadderResult | readonly LadderResult[], options: LadderMemoryChartOptions = {}): Chart {
  const where = "ladderMemoryChart";
  const list = requireResults(where, results);
  const rungs = list.flatMap((r) => r.rungs);
  const points: Record<string, unknown>[] = [];
  const pointOf = (r: LadderRung, kind: string, bytes: number) => ({ parameters: r.parameters, method: LADDER_METHOD_LABELS[r.method], kind, gib: bytes / GiB, model: r.model, bytes: formatBytes(bytes), status: r.status });
  for (const r of rungs) {
    if (r.status === "ok") {
      points.push(pointOf(r, "measured: ledger peak", r.peakBytes!));
      points.push(pointOf(r, "measured: process peak RSS", r.peakRssBytes!));
    } else {
      points.push(pointOf(r, `${r.status}: planned peak`, r.plannedPeakBytes));
    }
  }
  // The planner's line: each rung's plan, then the 7B/70B rows (one per model and method).
  const planned = new Map<string, Record<string, unknown>>();
  for (const r of rungs) planned.set(`${r.model} ${r.method}`, { parameters: r.parameters, method: LADDER_METHOD_LABELS[r.method], gib: r.plannedPeakBytes / GiB, model: r.model, bytes: formatBytes(r.plannedPeakBytes), kind: "planned" });
  for (const p of list.flatMap((r) => r.planned)) {
    if (!planned.has(`${p.model} ${p.method}`)) planned.set(`${p.model} ${p.method}`, { parameters: p.parameters, method: LADDER_METHOD_LABELS[p.method], gib: p.tfjsPeakBytes / GiB, model: p.model, bytes: formatBytes(p.tfjsPeakBytes), kind: "planned" });
  }
  const line = [...planned.values()].sort((a, b) => (a.parameters as number) - (b.parameters as number));
  const colors = methodColors([...rungs.map((r) => r.method), ...list.flatMap((r) => r.planned.map((p) => p.method))]);
  const KIND_SHAPES: Record<string, string> = { "measured: ledger peak": "circle", "measured: process peak RSS": "triangle-up", "refused: planned peak": "cross", "failed: planned peak": "diamond" };
  const kinds = Object.keys(KIND_SHAPES).filter((k) => points.some((p) => p.kind === k));
  const shapes = { domain: kinds, range: kinds.map((k) => KIND_SHAPES[k]) };
  const tiers = MEMORY_TIERS_GIB.map((gib) => ({ gib, label: `${gib} GiB` }));
  const x = { field: "parameters", type: "quantitative", title: "parameters (log scale)", scale: { type: "log" }, axis: { labelExpr: PARAMETERS_LABEL, tickCount: 6 } };
  const y = { field: "gib", type: "quantitative", title: "peak memory (GiB, log scale)", scale: { type: "log" } };
  const color = { field: "method", type: "nominal", title: "method", scale: colors, legend: { orient: "bottom" } };
  const tooltip = [{ field: "model" }, { field: "method" }, { field: "bytes", title: "bytes" }];
  const spec = topLevelSpec({
    title: {
      text: options.title ?? "Memory against model size",
      subtitle: `points: ${machinesOf(list)}; dashed: the planner (to 7B and 70B); rules: memory tiers. ${shapesOf(list)}published shapes with random weights`,
    },
    width: 520,
    height: 400,
    layer: [
      { data: { values: tiers }, mark: { type: "rule", color: "#bbbbbb", strokeDash: [2, 3] }, encoding: { y: { field: "gib", type: "quantitative" } } },
      { data: { values: tiers }, mark: { type: "text", align: "left", x: 4, dy: -5, fontSize: 9, color: "#777777" }, encoding: { y: { field: "gib", type: "quantitative" }, text: { field: "label" } } },
      { data: { values: line }, mark: { type: "line", strokeDash: [5, 4], strokeWidth: 1.5, point: { filled: false, size: 30 } }, encoding: { x, y, color, tooltip: [...tooltip, { field: "kind", title: "what" }] } },
      {
        data: { values: points },
        mark: { type: "point", size: 70, strokeWidth: 2, filled: true },
        encoding: {
          x,
          y,
          color,
          shape: { field: "kind", type: "nominal", title: "what", scale: shapes, legend: { orient: "bottom", columns: 2 } },
          size: { condition: { test: "datum.kind !== 'measured: ledger peak' && datum.kind !== 'measured: process peak RSS'", value: 180 }, value: 70 }, // a refused or failed rung's mark sits on the planner's line: larger, so it shows
          tooltip: [...tooltip, { field: "kind", title: "what" }, { field: "status" }],
        },
      },
    ],
  });
  const ok = rungs.filter((r) => r.status === "ok");
  const summary = `Ladder memory: ${ok.map((r) => `${r.model} ${r.method} ${formatBytes(r.peakBytes!)} (RSS ${formatBytes(r.peakRssBytes!)})`).join("; ")}${rungs.length > ok.length ? `; ${rungs.length - ok.length} not measured (${rungs.filter((r) => r.status !== "ok").map((r) => `${r.model} ${r.method} ${r.status}`).join(", ")})` : ""}`;
  return new Chart(spec, summary);
}

/** Options of {@link ladderSpeedChart}. */
export interface LadderSpeedChartOptions {
  title?: string;
}

/**
 * Speed against parameters, log-log, in two panels: training tokens/s (median; the bar spans the
 * fastest to the slowest step) and greedy generation tokens/s with the adapter separate, merged into
 * the 16-bit base, and merged and requantized to 4 bits (median; the bar spans the timed repeats).
 */
export function ladderSpeedChart(results: LadderResult | readonly LadderResult[], options: LadderSpeedChartOptions = {}): Chart {
  const where = "ladderSpeedChart";
  const list = requireResults(where, results);
  const training: Record<string, unknown>[] = [];
  const generation: Record<string, unknown>[] = [];
  for (const result of list) {
    const tokensPerStep = result.settings.batch * result.settings.seqLen;
    for (const r of result.rungs) {
      if (r.status !== "ok" || !r.stepSeconds) continue;
      const method = LADDER_METHOD_LABELS[r.method];
      training.push({ parameters: r.parameters, method, series: method, model: r.model, median: tokensPerStep / r.stepSeconds.median, low: tokensPerStep / r.stepSeconds.max, high: tokensPerStep / r.stepSeconds.min });
      for (const [variant, spread] of Object.entries(r.generateSpread ?? {})) {
        if (!spread) continue;
        const name = variant === "merged" ? "merged (16-bit)" : variant === "requantized" ? "merged, requantized (4-bit)" : "adapter separate";
        generation.push({ parameters: r.parameters, method, series: `${method}: ${name}`, variant: name, model: r.model, median: spread.median, low: spread.min, high: spread.max });
      }
    }
  }
  if (training.length === 0) throw new InvalidArgumentError(where, expected("at least one measured (ok) rung", "none"));
  const colors = methodColors(list.flatMap((r) => r.rungs.filter((g) => g.status === "ok").map((g) => g.method)));
  const x = { field: "parameters", type: "quantitative", title: "parameters (log scale)", scale: { type: "log" }, axis: { labelExpr: PARAMETERS_LABEL, tickCount: 5 } };
  const color = { field: "method", type: "nominal", title: "method", scale: colors, legend: { orient: "bottom" } };
  const panel = (values: Record<string, unknown>[], title: string, dashed: boolean) => ({
    width: 300,
    height: 260,
    data: { values },
    layer: [
      { mark: { type: "rule", strokeWidth: 1.5 }, encoding: { x, y: { field: "low", type: "quantitative" }, y2: { field: "high" }, color } },
      {
        mark: { type: "line", strokeWidth: 2 },
        encoding: {
          x,
          y: { field: "median", type: "quantitative", title, scale: { type: "log" } },
          color,
          detail: { field: "series" },
          ...(dashed ? { strokeDash: { field: "variant", type: "nominal", title: "generation", scale: { domain: ["adapter separate", "merged (16-bit)", "merged, requantized (4-bit)"], range: [[1, 0], [6, 3], [2, 2]] }, legend: { orient: "bottom", columns: 1, symbolStrokeWidth: 2 } } } : {}),
        },
      },
      {
        mark: { type: "point", size: 40, filled: true },
        encoding: {
          x,
          y: { field: "median", type: "quantitative" },
          color,
          tooltip: [{ field: "model" }, { field: "series", title: "run" }, { field: "median", format: ".3~g", title: "median tokens/s" }, { field: "low", format: ".3~g", title: "slowest" }, { field: "high", format: ".3~g", title: "fastest" }],
        },
      },
    ],
  });
  const spec = topLevelSpec({
    title: { text: options.title ?? "Speed against model size", subtitle: `median tokens/s, ${machinesOf(list)}; bars: slowest to fastest step or repeat. Published shapes with random weights` },
    hconcat: [panel(training, "training tokens/s (log scale)", false), panel(generation, "generation tokens/s (log scale)", true)],
    resolve: { scale: { y: "independent" } },
  });
  const summary = `Ladder speed (training tokens/s): ${training.map((t) => `${t.model} ${t.method} ${(t.median as number).toFixed(1)}`).join("; ")}`;
  return new Chart(spec, summary);
}
