// lib/train's public surface.
export type { StepRecord, EvalRecord } from "./records.js";
export { memoryByCategory } from "./step_memory.js";
export { train, type TrainOptions, type TrainResult, type TrainRun, type TrainCallbacks, type EvalOptions, type CheckpointOptions } from "./train.js";
export { evaluateLoss, exactMatch, exactMatchAccuracy, normalizeAnswer, type EvaluateOptions, type LossResult, type MetricFn, type MetricResult, type MetricTokenizer, type ExactMatchOptions } from "./evaluate.js";
export { tokenizeExamples, packExamples, makeBatch, EpochSampler, sequencesFromRows, isTokenizedDataset, IGNORE_INDEX, type Batch, type BatchTokenizer, type TokenSequence, type TokenizedDataset, type SamplerState } from "./batching.js";
export { saveCheckpoint, loadCheckpoint, resolveCheckpoint, readTrainerState, type TrainerState } from "./checkpoint.js";
export type { TrainableModel, GeneratingModel } from "./model_contract.js";
export { Rng } from "./rng.js";
export { compareLoraQlora, CONVERGED_PERCENT, type CompareOptions, type CompareReport, type CompareRun, type BaseMode } from "./compare.js";
export { runPlanFor, type RunPlan, type RunPlanOptions } from "./run_plan.js";
