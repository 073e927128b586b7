// RMSNorm (Zhang & Sennrich 2019), as LLaMA uses it: y = x / sqrt(mean(x^2) + eps) * weight.
import * as tf from "@tensorflow/tfjs-core";

/** x: [..., C], weight: [C] -> [..., C], normalised over the last axis. */
export function rmsNorm<T extends tf.Tensor>(x: T, weight: tf.Tensor1D, eps: number): T {
  return tf.tidy(() => {
    const meanSquare = tf.mean(tf.square(x), -1, true); // [..., 1]
    return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, eps))), weight) as T;
  });
}
