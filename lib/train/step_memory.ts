// The memory a step record carries: resident bytes by category at the step's end (model and optimizer),
// the step's gradients and activations, and with a ledger its measured peak per category.
import type { MemoryLedger } from "../memory/ledger.js";
import { MEMORY_CATEGORIES, type MemoryCategory, type MemoryItem, type MemoryReporter } from "../memory/types.js";
import type { StepOutcome } from "./train_step.js";

/** Bytes by category. */
export type CategoryTotals = Partial<Record<MemoryCategory, number>>;

/** Sums memory items by category. */
export function memoryByCategory(items: readonly MemoryItem[]): CategoryTotals {
  const out: CategoryTotals = {};
  for (const item of items) out[item.category] = (out[item.category] ?? 0) + item.bytes;
  return out;
}

/** The memory of step `step`'s record (and the ledger's snapshot after the optimizer, when a ledger measured it). */
export function stepMemory(reporters: readonly Partial<MemoryReporter>[], outcome: StepOutcome, step: number, ledger?: MemoryLedger): CategoryTotals {
  const memory = memoryByCategory(reporters.flatMap((r) => r.memoryItems?.() ?? []));
  memory.gradients = outcome.gradientBytes;
  memory.activations = Math.max(0, outcome.activationBytes);
  const peak = outcome.ledgerPeak;
  if (peak && ledger) {
    ledger.snapshot("optimizer", { step });
    for (const c of MEMORY_CATEGORIES) if (peak[c]) memory[c] = Math.max(memory[c] ?? 0, peak[c]!);
  }
  return memory;
}

/** Raises `peak` to `memory` category by category. */
export function raisePeak(peak: CategoryTotals, memory: CategoryTotals): void {
  for (const category of MEMORY_CATEGORIES) {
    const bytes = memory[category];
    if (bytes !== undefined) peak[category] = Math.max(peak[category] ?? 0, bytes);
  }
}
