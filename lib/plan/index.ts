// lib/plan's public surface: the planner, the TF.js tape walk and the LLaMA shape presets.
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
export { planGeneration, type GenerationPlan, type GenerationSetup, type GenerationStorage } from "./generation_plan.js";
export { checkTrainingBudget, checkGenerationBudget, enforceBudget, trainingChanges, generationChanges, backendBytes, OverBudgetError, type BudgetCheck, type BudgetChange, type BudgetedPlan, type FittingChange } from "./budget.js";
export { DEVICE_TIERS_GIB, deviceFit, describeDeviceFit, type DeviceFit } from "./device_fit.js";
