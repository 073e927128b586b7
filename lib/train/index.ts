// lib/train's public surface.
export type { StepRecord, EvalRecord } from "./records.js";
