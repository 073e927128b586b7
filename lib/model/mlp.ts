// The SwiGLU feed-forward gate (Shazeer 2020, "GLU Variants Improve Transformer"):
// down(silu(gate(x)) * up(x)); this file holds the elementwise part.

import * as tf from "@tensorflow/tfjs-core";

/** silu(gate) * up for gate, up: [N, F] -> [N, F], with silu(x) = x * sigmoid(x). */
export function swiglu(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mul(tf.mul(gate, tf.sigmoid(gate)), up));
}
