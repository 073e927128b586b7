// lib/optim's public surface.
export type { Optimizer, OptimizerState, NamedVariable } from "./optimizer.js";
export { AdamW, ADAMW_STATE_KIND, type AdamWOptions } from "./adamw.js";
export { adamwStep, type AdamWStepScalars, type AdamWStepResult } from "./adamw_math.js";
export { clipByGlobalNorm, type ClipResult } from "./clip.js";
export { lrSchedule, type LrSchedule, type ScheduleKind, type ScheduleOptions } from "./schedule.js";
export {
  resolveStateOption,
  OPTIMIZER_STATE_KINDS,
  DEFAULT_PAGE_BYTES,
  DEFAULT_8BIT_MIN_ELEMENTS,
  type OptimizerStateOption,
  type PagedStateOptions,
  type Blockwise8bitOptions,
  type ResolvedStateOption,
} from "./state_options.js";
export type { PagingRecord } from "./placement.js";
export { PagedPlacement, type PagedPlacementOptions } from "./paged_placement.js";
export { Blockwise8bitCodec, STATE_8BIT_BLOCK } from "./state_8bit.js";
