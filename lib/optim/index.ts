// lib/optim's public surface.
export type { Optimizer, OptimizerState, NamedVariable } from "./optimizer.js";
