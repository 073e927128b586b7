// The optimizer contract the training loop relies on; AdamW's 32-bit, paged and 8-bit state forms
// all implement it, so a run switches form by changing one option.
import type * as tf from "@tensorflow/tfjs-core";
import type { MemoryReporter } from "../memory/types.js";

/** A named trainable parameter (the name keys its gradient and its optimizer state). */
export interface NamedVariable {
  name: string;
  variable: tf.Variable;
}

/** Updates parameters in place from their gradients. */
export interface Optimizer extends MemoryReporter {
  /** Steps taken so far (bias correction uses it). */
  readonly stepCount: number;
  /** One update: `grads[name]` is the gradient of `params[i].variable`; `lr` is this step's rate. */
  applyGradients(params: readonly NamedVariable[], grads: Readonly<Record<string, tf.Tensor>>, lr: number): void;
  /** State as plain typed arrays, for checkpoints (name -> state tensors' values). */
  saveState(): OptimizerState;
  /** Restores what saveState returned. */
  loadState(state: OptimizerState): void;
  dispose(): void;
}

/** Serializable optimizer state. */
export interface OptimizerState {
  kind: string;
  stepCount: number;
  /** Per parameter name, per state slot ("m", "v", ...): values as float32 or raw bytes. */
  slots: Record<string, Record<string, Float32Array | Uint8Array>>;
}
