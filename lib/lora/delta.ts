// The one LoRA formula, delta = B @ A * scaling (Hu et al. 2021, eq. 3; PEFT get_delta_weight).
// Forward applies it to activations, merge adds it to a weight, unmerge subtracts it: all call this.
import * as tf from "@tensorflow/tfjs-core";
import { TensorError, expected } from "../errors.js";
import { matMulNN } from "../model/matmul.js";

/** The factors of one adapter: A [r, in], B [out, r], and the scalar they are multiplied by. */
export interface LoraFactors {
  /** A: [r, in]. */
  loraA: tf.Tensor2D;
  /** B: [out, r]. */
  loraB: tf.Tensor2D;
  /** alpha / r (or alpha / sqrt(r) for rsLoRA). */
  scaling: number;
}

/**
 * delta = B @ A * scaling. Without `x`: the weight update, [out, in]. With `x` [N, in]: the update
 * applied to x, x @ delta^T = ((x @ A^T) @ B^T) * scaling, evaluated right to left so the [out, in]
 * matrix is never formed (N*r*(in+out) multiplies instead of out*in*(r+N)).
 */
export function loraDelta(factors: LoraFactors, x?: tf.Tensor2D): tf.Tensor2D {
  const { loraA, loraB, scaling } = factors;
  const [r, inFeatures] = loraA.shape;
  if (loraB.shape[1] !== r) throw new TensorError("loraDelta", expected(`B of shape [out, ${r}] to match A [${r}, ${inFeatures}]`, `[${loraB.shape.join(", ")}]`));
  if (x !== undefined && x.shape[1] !== inFeatures) throw new TensorError("loraDelta", expected(`x of shape [N, ${inFeatures}]`, `[${x.shape.join(", ")}]`));
  return tf.tidy(() => {
    if (x === undefined) return tf.mul(tf.matMul(loraB, loraA), scaling); // [out, r] x [r, in] -> [out, in]
    // matMulNN: wasm's transposed matMul (and tf.matMul's gradient) is several times slower.
    const down = matMulNN(x, loraA, false, true); // [N, in] x [r, in]^T -> [N, r]
    return tf.mul(matMulNN(down, loraB, false, true), scaling); // [N, r] x [out, r]^T -> [N, out]
  });
}
