// Plain input records the charts draw from (besides lib/train's StepRecord / EvalRecord).
// Other areas produce these; every field is a number, string or plain object, so they serialize.
import type { MemoryCategory } from "../memory/types.js";
import type { PagingRecord as OptimizerPagingRecord } from "../optim/placement.js";

/** Resident bytes by category for one configuration or one moment (a ledger snapshot or a plan). */
export interface MemorySnapshot {
  /** What the bar is called: "LoRA", "QLoRA", "peak of step 3". */
  label: string;
  bytesByCategory: Partial<Record<MemoryCategory, number>>;
}

/** One point of a memory timeline, e.g. after each event of one training step. */
export interface MemoryTimelinePoint {
  /** Position on the x axis: milliseconds since the step began, or an event index. */
  t: number;
  /** What happened at `t`, e.g. "forward layer 3", "backward", "optimizer"; shown in tooltips and as phase marks. */
  phase?: string;
  bytesByCategory: Partial<Record<MemoryCategory, number>>;
}

/** Bytes one component of one layer holds ("model.layers.3" x "q_proj"). */
export interface LayerMemoryRow {
  /** Layer index or name; rows sort by number when they are numbers. */
  layer: number | string;
  /** Component within the layer: "q_proj", "mlp.down_proj", "lora_A", "input_layernorm". */
  component: string;
  bytes: number;
  category?: MemoryCategory;
}

/** A planner estimate for one model size and method. */
export interface PlannerRow {
  /** Model name: "7B", "13B", "70B". */
  model: string;
  /** Method: "Full", "LoRA", "QLoRA". */
  method: string;
  bytesByCategory: Partial<Record<MemoryCategory, number>>;
}

/** A device the planner view compares against. */
export interface GpuSpec {
  /** Shown on the axis: "24 GB". */
  name: string;
  bytes: number;
}

/** One code book to draw on a weight histogram: 16 levels in [-1, 1] for a 4-bit type. */
export interface CodebookLevels {
  /** "nf4", "fp4", "int4" or a custom name. */
  name: string;
  levels: readonly number[];
}

/** Per-block quantization error of one tensor under one data type (e.g. mean |w - dequant(w)| per block). */
export interface BlockErrorSeries {
  name: string;
  errors: ArrayLike<number>;
}

/** How often each 4-bit code is used when quantizing a tensor. */
export interface CodeUsageSeries {
  name: string;
  /** counts[code] for code 0..15. */
  counts: readonly number[];
  /** The code book's value of each code, for tooltips. */
  levels?: readonly number[];
}

/** One way of running an adapter, measured against the "separate" reference. */
export interface MergeComparisonRow {
  method: "separate" | "merged-fp32" | "merged-4bit" | (string & {});
  maxAbsLogitDiff: number;
  meanAbsLogitDiff: number;
  perplexity: number;
  /** Fraction in [0, 1] of greedy tokens equal to the reference's. */
  greedyAgreement: number;
  /** Median tokens/s over repeated timings. */
  tokensPerSecond: number;
  /** Smallest and largest tokens/s over those repeats (drawn as the spread). */
  tokensPerSecondRange?: readonly [number, number];
  residentBytes: number;
}

/** How much of a layer's LoRA delta survives merging into the base and requantizing it. */
export interface DeltaSurvivalRow {
  /** Module path, e.g. "model.layers.0.self_attn.q_proj". */
  layer: string;
  /** |requant(W + dW) - requant(W)| projected on dW, as a fraction of |dW| (1 = all survives). */
  survival: number;
  /** ||dW_eff - dW|| / ||dW||: the noise the merge adds, relative to the update (0 = none). */
  deltaError?: number;
  /** The same on probe outputs: ||X (dW_eff - dW)^T|| / ||X dW^T||. */
  deltaOutputError?: number;
  method?: string;
}

/** Optimizer paging activity in one training step: the fields of lib/optim's record the chart draws. */
export type PagingRecord = Pick<OptimizerPagingRecord, "step" | "pagesIn" | "pagesOut" | "bytesIn" | "bytesOut" | "stepMs"> & Partial<Pick<OptimizerPagingRecord, "pagingMs">>;
