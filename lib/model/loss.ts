// Masked token-level cross-entropy, the teacher-forced language-modelling loss: mean over the
// counted positions of -log softmax(logits)[target]. The target is picked with a one-hot product
// (not tf.gather) so the gradient runs on every backend.
import * as tf from "@tensorflow/tfjs-core";

/** logits: [N, V], targets: [N] int32, mask: [N] float32 (1 = counted, 0 = ignored) -> scalar mean loss. */
export function maskedCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D, mask: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits); // [N, V]
    const oneHot = tf.cast(tf.oneHot(targets, logits.shape[1]), "float32"); // [N, V] (wasm's float32 OneHot is wrong, so cast)
    const nll = tf.neg(tf.sum(tf.mul(logProbs, oneHot), -1)); // [N]
    const counted = tf.maximum(tf.sum(mask), 1); // avoid 0/0 when every position is ignored
    return tf.div(tf.sum(tf.mul(nll, mask)), counted) as tf.Scalar;
  });
}
