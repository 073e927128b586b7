// lib/memory's public surface.
export { MEMORY_CATEGORIES, type MemoryCategory, type MemoryItem, type MemoryLocation, type MemoryReporter } from "./types.js";
export {
  MemoryLedger,
  tensorReporter,
  bytesOfTensor,
  type CategoryBytes,
  type LedgerPoint,
  type OwnerBytes,
  type Reconciliation,
  type SnapshotExtras,
} from "./ledger.js";
export {
  planMemory,
  planDenseStack,
  planByCategory,
  fitsGpus,
  optimizerStateBytes,
  resolvePlanSetup,
  resolveShape,
  DEFAULT_PLAN_SETUP,
  TFJS_PLAN_DEFAULTS,
  GPU_SIZES_GB,
  TFJS_ADAMW_WORKING_COPIES,
  CUDA_CONTEXT_BYTES,
  CUDA_FRAGMENTATION,
  type PlanSetup,
  type ResolvedPlanSetup,
  type PlanComponent,
  type PlanCategory,
  type MemoryPlan,
  type PlanModel,
  type PlanDtype,
  type DenseStackModel,
} from "./planner.js";
export { tfjsTapeElements, type TfjsTapeSetup, type TfjsTapeElements, type TfjsBackendKind, type TapeCounts } from "./tfjs_tape.js";
export { LLAMA_PRESETS, llamaPreset, shapeFromHfConfig, blockLinears, type LlamaShape, type LinearShape } from "./llama_presets.js";
