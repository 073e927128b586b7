// Plain records a training run emits; lib/viz draws from them and notebooks tabulate them.
import type { MemoryCategory } from "../memory/types.js";

/** One optimizer step. */
export interface StepRecord {
  /** Name of the run ("LoRA", "QLoRA", ...), so several runs can be overlaid. */
  run: string;
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  /** Milliseconds since the run started. */
  elapsedMs: number;
  /** Resident bytes by category at the end of the step (when a ledger is attached). */
  memory?: Partial<Record<MemoryCategory, number>>;
}

/** One evaluation pass. */
export interface EvalRecord {
  run: string;
  step: number;
  loss: number;
  perplexity: number;
  /** Task metric (e.g. exact-match accuracy in [0, 1]) when the task defines one. */
  metric?: number;
  metricName?: string;
  elapsedMs: number;
}
