// Helpers shared by the LoRA tests: a model's logits on fixed token ids, and the largest difference.
import * as tf from "@tensorflow/tfjs-core";

/** Logits of `model` on `ids` ([B, T] token ids), flattened, with no tensors left behind. */
export function logitsOn(model: { forward(ids: tf.Tensor2D): tf.Tensor3D }, ids: number[][]): Float32Array {
  return tf.tidy(() => model.forward(tf.tensor2d(ids, undefined, "int32")).dataSync() as Float32Array);
}

/** max_i |a_i - b_i|. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}
