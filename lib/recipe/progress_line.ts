// The one-line progress of a run in a terminal: step/total, loss, throughput and the time left at
// this session's pace.
import type { StepRecord } from "../train/records.js";

/** "step 12/200  loss 2.3456  1,234 tok/s  ETA 1m05s"; `sessionStart` is the first record of this session (for the pace). */
export function progressLine(record: StepRecord, totalSteps: number, sessionStart: { step: number; elapsedMs: number }): string {
  const done = record.step - sessionStart.step;
  const msPerStep = done > 0 ? (record.elapsedMs - sessionStart.elapsedMs) / done : 0;
  const eta = formatEta((totalSteps - record.step) * msPerStep);
  return `step ${record.step}/${totalSteps}  loss ${record.loss.toFixed(4)}  ${Math.round(record.tokensPerSecond).toLocaleString("en-US")} tok/s  ETA ${eta}`;
}

/** Whole seconds as 45s, 3m07s or 2h05m. */
export function formatEta(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
