// A training run as one self-contained HTML page: the loss curves (train and eval) and resident
// memory by category at every step, drawn as SVG, with a few lines of what the run was. Each chart
// carries a text alternative (role="img", aria-label and <title>, the SVG form of alt text) that says
// what it shows with its key numbers, for screen readers and for pages read without images.
import type { EvalRecord, StepRecord } from "../train/records.js";
import type { MemoryCategory } from "../memory/types.js";
import { formatBytes, formatDuration, formatNumber } from "../format.js";
import { lossChart, trailingMean } from "./loss_chart.js";
import { memoryTimelineChart } from "./memory_timeline.js";
import { MEMORY_CATEGORY_LABELS } from "./palette.js";
import { escapeHtml } from "./table.js";

/** What {@link trainingReportHtml} shows. */
export interface TrainingReportInput {
  title: string;
  steps: readonly StepRecord[];
  evals: readonly EvalRecord[];
  /** Lines of "name: value" shown above the charts (model, method, data, ...). */
  facts?: Readonly<Record<string, string | number>>;
}

/** The loss chart's text alternative: per run, the train loss from first to last step and the eval losses. */
export function lossChartAltText(steps: readonly StepRecord[], evals: readonly EvalRecord[]): string {
  const runs = [...new Set([...steps, ...evals].map((r) => r.run))];
  const parts = runs.map((run) => {
    const s = steps.filter((r) => r.run === run && Number.isFinite(r.loss));
    const e = evals.filter((r) => r.run === run && Number.isFinite(r.loss));
    const bits: string[] = [];
    if (s.length) {
      const [first, last] = [s[0]!, s[s.length - 1]!];
      bits.push(`train loss ${formatNumber(first.loss)} at step ${first.step} to ${formatNumber(last.loss)} at step ${last.step} (mean of the last ${Math.min(10, s.length)} steps ${formatNumber(trailingMean(s.map((r) => r.loss), 10))})`);
    }
    if (e.length) bits.push(`eval loss ${e.map((r) => `${formatNumber(r.loss)} at step ${r.step}`).join(", ")}`);
    return `${run}: ${bits.join("; ")}`;
  });
  return `Line chart of loss against training step. ${parts.join(". ")}.`;
}

/** The memory chart's text alternative: the peak, when it happened, and what it was made of. */
export function memoryChartAltText(steps: readonly StepRecord[]): string {
  let peak = { step: 0, total: -1, memory: {} as Partial<Record<MemoryCategory, number>> };
  for (const s of steps) {
    const total = Object.values(s.memory ?? {}).reduce((a, b) => a + (b ?? 0), 0);
    if (total > peak.total) peak = { step: s.step, total, memory: s.memory ?? {} };
  }
  const byCategory = (Object.entries(peak.memory) as [MemoryCategory, number][])
    .filter(([, bytes]) => bytes > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([category, bytes]) => `${MEMORY_CATEGORY_LABELS[category] ?? category} ${formatBytes(bytes)}`);
  return `Stacked area chart of resident memory by category at each step, ${steps.length} steps. Peak ${formatBytes(peak.total)} at step ${peak.step}: ${byCategory.join(", ")}.`;
}

/** An SVG chart with its text alternative on the root element. */
function accessibleSvg(svg: string, alt: string): string {
  const text = escapeHtml(alt);
  return svg.replace(/^<svg\b([^>]*)>/, (_, attrs: string) => `<svg${attrs} role="img" aria-label="${text}"><title>${text}</title>`);
}

/** The HTML page (a string) of a run's loss and memory charts. */
export function trainingReportHtml(input: TrainingReportInput): string {
  const { steps, evals } = input;
  const parts: string[] = [];
  const facts = { ...(input.facts ?? {}) };
  if (steps.length) {
    const last = steps[steps.length - 1]!;
    facts["steps done"] = last.step;
    facts["last loss"] = last.loss.toFixed(4);
    facts["wall time"] = formatDuration(last.elapsedMs);
  }
  parts.push(`<table>${Object.entries(facts).map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(v))}</td></tr>`).join("")}</table>`);
  if (steps.length || evals.length) parts.push(`<h2>Loss</h2>${accessibleSvg(lossChart(steps, evals, { title: input.title }).toSVG(), lossChartAltText(steps, evals))}`);
  const withMemory = steps.filter((s) => s.memory && Object.keys(s.memory).length);
  if (withMemory.length) {
    const chart = memoryTimelineChart(withMemory.map((s) => ({ t: s.step, bytesByCategory: s.memory! })), { xTitle: "step", title: "Resident memory by category" });
    const peak = Math.max(...withMemory.map((s) => Object.values(s.memory!).reduce((a, b) => a + (b ?? 0), 0)));
    parts.push(`<h2>Memory</h2><p>peak ${escapeHtml(formatBytes(peak))}</p>${accessibleSvg(chart.toSVG(), memoryChartAltText(withMemory))}`);
  }
  const style = "body{font-family:sans-serif;max-width:960px;margin:2em auto}th{text-align:left;padding-right:1em}";
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title><style>${style}</style></head><body><h1>${escapeHtml(input.title)}</h1>${parts.join("\n")}</body></html>\n`;
}
