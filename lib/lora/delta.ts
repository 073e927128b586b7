// The LoRA weight update, delta = B @ A * scaling (Hu et al. 2021, eq. 3; PEFT get_delta_weight):
// merge adds it to a weight (mergedWeight), unmerge subtracts it, the merge strategies compare it.
import * as tf from "@tensorflow/tfjs-core";
import { TensorError, expected } from "../errors.js";
import type { Linear } from "../model/linear.js";

/** The factors of one adapter: A [r, in], B [out, r], and the scalar they are multiplied by. */
export interface LoraFactors {
  /** A: [r, in]. */
  loraA: tf.Tensor2D;
  /** B: [out, r]. */
  loraB: tf.Tensor2D;
  /** alpha / r (or alpha / sqrt(r) for rsLoRA). */
  scaling: number;
}

/** delta = B @ A * scaling: the weight update [out, in] (a forward pass applies it as lowRankUpdate, lib/ops/low_rank.ts, without forming it). */
export function loraDelta(factors: LoraFactors): tf.Tensor2D {
  const { loraA, loraB, scaling } = factors;
  const [r, inFeatures] = loraA.shape;
  if (loraB.shape[1] !== r) throw new TensorError("loraDelta", expected(`B of shape [out, ${r}] to match A [${r}, ${inFeatures}]`, `[${loraB.shape.join(", ")}]`));
  return tf.tidy(() => tf.mul(tf.matMul(loraB, loraA), scaling)); // [out, r] x [r, in] -> [out, in]
}

/** W + delta (or W - delta with `sign` -1) for the dense weight W [out, in] of `base`: the merged weight, a new tensor. */
export function mergedWeight(base: Linear, factors: LoraFactors, sign: 1 | -1 = 1): tf.Tensor2D {
  return tf.tidy(() => {
    const weight = base.denseWeight(); // [out, in]
    const delta = loraDelta(factors);
    return sign === 1 ? tf.add(weight, delta) : tf.sub(weight, delta);
  });
}
