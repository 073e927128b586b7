// The run's log: one JSON object per optimizer step (step, loss, lr, grad_norm, tokens/s, memory),
// rewritten atomically after each step so a reader never sees a torn line.
import { writeFileAtomic } from "../io/atomic_write.js";
import type { StepRecord } from "../train/records.js";

/** A step record as the log writes it (snake_case, as trainers' logs are). */
export function stepLogLine(record: StepRecord): string {
  const memory = record.memory ?? {};
  const total = Object.values(memory).reduce((a, b) => a + (b ?? 0), 0);
  return JSON.stringify({ step: record.step, loss: record.loss, lr: record.lr, grad_norm: record.gradNorm, tokens_per_second: record.tokensPerSecond, elapsed_ms: record.elapsedMs, memory_bytes: total, memory });
}

/** Keeps the log's lines and writes the whole file after each new one. */
export class StepLog {
  private readonly lines: string[];

  /** Starts with `earlier` steps (a resumed run's history, so the log matches the checkpoint). */
  constructor(readonly path: string, earlier: readonly StepRecord[] = []) {
    this.lines = earlier.map(stepLogLine);
    writeFileAtomic(path, this.text());
  }

  add(record: StepRecord): void {
    this.lines.push(stepLogLine(record));
    writeFileAtomic(this.path, this.text());
  }

  private text(): string {
    return this.lines.length ? `${this.lines.join("\n")}\n` : "";
  }
}
