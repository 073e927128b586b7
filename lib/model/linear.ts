// The one linear abstraction every projection of the decoder goes through, so lib/lora can wrap
// any of them and lib/quant can stand in a 4-bit base. Weights use PyTorch's [out, in] orientation.
import * as tf from "@tensorflow/tfjs-core";
import { bytesOfTensor } from "../memory/ledger.js";
import type { MemoryItem, MemoryReporter } from "../memory/types.js";
import { matMulWeight } from "../ops/matmul.js";

/** y = x W^T for x: [N, in] -> y: [N, out]. Implemented by dense, 4-bit and LoRA layers. */
export interface Linear extends MemoryReporter {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** x: [N, in] -> [N, out]. */
  apply(x: tf.Tensor2D): tf.Tensor2D;
  /** The variables this layer trains; empty for a frozen base. */
  trainableVariables(): tf.Variable[];
  /** The weight as a float32 [out, in] tensor (a new tensor the caller disposes). */
  denseWeight(): tf.Tensor2D;
  /**
   * For a layer whose apply() draws random numbers (LoRA dropout): how many draws it has made. Gradient
   * checkpointing sets it back before recomputing a forward, so the recompute draws the same masks.
   */
  drawCount?: number;
  dispose(): void;
}

/** A float32 linear layer; frozen (a plain tensor) unless `trainable` makes it a variable. */
export class DenseLinear implements Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: tf.Tensor2D; // [out, in]

  constructor(
    weight: tf.Tensor2D,
    readonly options: { name: string; trainable?: boolean },
  ) {
    [this.outFeatures, this.inFeatures] = weight.shape;
    // The variable keeps TF.js's own unique name: names are global to the engine, and two models
    // loaded side by side share module paths. `options.name` is the module path for reports.
    this.weight = options.trainable ? tf.variable(weight, true) : tf.keep(weight);
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    return matMulWeight(x, this.weight); // [N, in] x [out, in]^T -> [N, out]; a frozen weight gets no gradient
  }

  trainableVariables(): tf.Variable[] {
    return this.weight instanceof tf.Variable ? [this.weight] : [];
  }

  denseWeight(): tf.Tensor2D {
    return tf.clone(this.weight);
  }

  memoryItems(): MemoryItem[] {
    return [{ category: "base_dense", bytes: bytesOfTensor(this.weight), owner: this.options.name, onBackend: true }];
  }

  dispose(): void {
    this.weight.dispose();
  }
}
