// Learning-rate schedules with linear warmup, as Hugging Face transformers' get_*_schedule_with_warmup
// (step is 0-based: the first update uses step 0, so a warmup starts at 0).
import { InvalidArgumentError, expected } from "../errors.js";
import { requireNonNegativeInteger, requirePositiveInteger } from "../validate.js";

/** Which curve follows the warmup. */
export type ScheduleKind = "constant" | "linear" | "cosine";

/** Options for {@link lrSchedule}. */
export interface ScheduleOptions {
  kind: ScheduleKind;
  /** Peak learning rate. */
  lr: number;
  /** Total optimizer steps (needed by linear and cosine, and by warmupRatio). */
  totalSteps?: number;
  /** Warmup steps as a fraction of totalSteps (ceil(ratio * total), as transformers). */
  warmupRatio?: number;
  /** Warmup steps; overrides warmupRatio. */
  warmupSteps?: number;
  /** Cosine: number of half-waves (0.5 = decay to 0 once, the default). */
  numCycles?: number;
}

/** A schedule: 0-based step -> learning rate. */
export type LrSchedule = (step: number) => number;

/** Builds a learning-rate schedule (constant, linear decay or cosine decay, each after a linear warmup). */
export function lrSchedule(options: ScheduleOptions): LrSchedule {
  const fn = "lrSchedule";
  const { kind, lr } = options;
  if (!["constant", "linear", "cosine"].includes(kind)) throw new InvalidArgumentError(fn, expected('kind "constant", "linear" or "cosine"', kind));
  if (!(Number.isFinite(lr) && lr >= 0)) throw new InvalidArgumentError(fn, expected("lr >= 0", lr));
  const total = options.totalSteps;
  if (total !== undefined) requirePositiveInteger(fn, "totalSteps", total);
  if (kind !== "constant" && total === undefined) throw new InvalidArgumentError(fn, expected(`totalSteps for a ${kind} schedule`, "undefined"));
  const ratio = options.warmupRatio ?? 0;
  if (!(ratio >= 0 && ratio <= 1)) throw new InvalidArgumentError(fn, expected("warmupRatio in [0, 1]", ratio));
  if (ratio > 0 && options.warmupSteps === undefined && total === undefined) throw new InvalidArgumentError(fn, expected("totalSteps with warmupRatio", "undefined"));
  const warmup = options.warmupSteps ?? Math.ceil(ratio * (total ?? 0));
  requireNonNegativeInteger(fn, "warmupSteps", warmup);
  const cycles = options.numCycles ?? 0.5;
  return (step: number) => {
    if (step < warmup) return (lr * step) / Math.max(1, warmup);
    if (kind === "constant") return lr;
    const remaining = Math.max(1, total! - warmup);
    if (kind === "linear") return lr * Math.max(0, (total! - step) / remaining);
    const progress = (step - warmup) / remaining;
    return lr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress)));
  };
}
