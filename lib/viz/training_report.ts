// A training run as one self-contained HTML page: the loss curves (train and eval) and resident
// memory by category at every step, drawn as SVG, with a few lines of what the run was.
import type { EvalRecord, StepRecord } from "../train/records.js";
import { formatBytes, formatDuration } from "../format.js";
import { lossChart } from "./loss_chart.js";
import { memoryTimelineChart } from "./memory_timeline.js";
import { escapeHtml } from "./table.js";

/** What {@link trainingReportHtml} shows. */
export interface TrainingReportInput {
  title: string;
  steps: readonly StepRecord[];
  evals: readonly EvalRecord[];
  /** Lines of "name: value" shown above the charts (model, method, data, ...). */
  facts?: Readonly<Record<string, string | number>>;
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
  if (steps.length || evals.length) parts.push(`<h2>Loss</h2>${lossChart(steps, evals, { title: input.title }).toSVG()}`);
  const withMemory = steps.filter((s) => s.memory && Object.keys(s.memory).length);
  if (withMemory.length) {
    const chart = memoryTimelineChart(withMemory.map((s) => ({ t: s.step, bytesByCategory: s.memory! })), { xTitle: "step", title: "Resident memory by category" });
    const peak = Math.max(...withMemory.map((s) => Object.values(s.memory!).reduce((a, b) => a + (b ?? 0), 0)));
    parts.push(`<h2>Memory</h2><p>peak ${escapeHtml(formatBytes(peak))}</p>${chart.toSVG()}`);
  }
  const style = "body{font-family:sans-serif;max-width:960px;margin:2em auto}th{text-align:left;padding-right:1em}";
  return `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${escapeHtml(input.title)}</title><style>${style}</style></head><body><h1>${escapeHtml(input.title)}</h1>${parts.join("\n")}</body></html>\n`;
}
