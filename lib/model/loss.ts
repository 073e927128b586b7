// Masked token-level cross-entropy, the teacher-forced language-modelling loss: mean over the
// counted positions of -log softmax(logits)[target] = logsumexp(logits) - logits[target]. One
// differentiable op: its gradient is (softmax - one_hot(target)) * mask / counted, computed directly
// instead of through the autodiff of logSoftmax, a one-hot product, sum and mean (whose intermediate
// gradients would each be kept), and with at most three [N, V] tensors alive at once.
import * as tf from "@tensorflow/tfjs-core";
import { customOp, customOpFootprint } from "../ops/custom_op.js";
import type { Handle, Timeline, Traced } from "../ops/footprint.js";

/** logits: [N, V], targets: [N] int32, mask: [N] float32 (1 = counted, 0 = ignored) -> scalar mean loss. */
export function maskedCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D, mask: tf.Tensor1D): tf.Scalar {
  const [rows, vocab] = logits.shape;
  /** Each row's share of the mean, mask / counted: [N] (max(., 1) avoids 0/0 when every position is ignored). */
  const rowWeights = (m: tf.Tensor1D) => tf.div(m, tf.maximum(tf.sum(m), 1));
  return customOp<[tf.Tensor2D], tf.Scalar>({
    forward: (logitsIn) => {
      const logSumExp = tf.tidy(() => tf.logSumExp(logitsIn, -1)); // [N]
      // logits[i, targets[i]], gathered from the flat [N*V] logits at i * V + targets[i].
      const picked = tf.tidy(() => tf.gather(tf.reshape(logitsIn, [rows * vocab]), tf.add(tf.mul(tf.range(0, rows, 1, "int32"), tf.scalar(vocab, "int32")), targets))); // [N]
      return tf.sum(tf.mul(tf.sub(logSumExp, picked), rowWeights(mask))) as tf.Scalar;
    },
    save: (logitsIn) => [logitsIn, targets, mask], // targets and mask may be gone by the backward
    backward: (dy, saved) => {
      const [l, t, m] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
      const weights = tf.tidy(() => tf.mul(rowWeights(m), dy)); // [N], times the incoming gradient
      const probs = tf.softmax(l); // [N, V]
      l.dispose(); // read once (disposing a saved copy twice is a no-op)
      const scaled = tf.mul(probs, tf.reshape(weights, [rows, 1])); // softmax * weight
      probs.dispose();
      // weight at (i, targets[i]), zero elsewhere: the one-hot term of the gradient.
      const atTargets = tf.tidy(() => tf.scatterND(tf.stack([tf.range(0, rows, 1, "int32"), t], 1), weights, [rows, vocab]));
      const dLogits = tf.sub(scaled, atTargets); // [N, V]
      tf.dispose([weights, scaled, atTargets]);
      return dLogits;
    },
  })(logits);
}

/** maskedCrossEntropy's footprint (ops/footprint.ts) for logits: [N, V]: saves the logits, targets and mask; at most three [N, V] tensors at once. */
export function maskedCrossEntropyFootprint(t: Timeline, logits: Traced, rows: number, vocab: number): Traced {
  const [N, V] = [rows, vocab];
  const forward = () => {
    t.tidy(() => {
      t.alloc(N); // row max
      t.alloc(N * V); // logits - max
      t.alloc(N * V); // exp
      t.alloc(4 * N); // sum, log, max reshaped, lse
    });
    t.tidy(() => {
      t.alloc(N * V); // logits flattened
      t.alloc(4 * N); // row offsets, indices, picked
    });
    t.alloc(4 * N); // weights, nll, products
    return t.alloc(1);
  };
  const backward = (_dy: Handle, saved: Handle[]) =>
    t.tidy(() => {
      const weights = t.alloc(N);
      const probs = t.alloc(N * V);
      t.free(saved[0]); // the logits copy: read once
      const scaled = t.alloc(N * V);
      t.free(probs);
      const atTargets = t.tidy(() => {
        t.alloc(4 * N); // row indices, pairs
        return t.alloc(N * V);
      });
      const dLogits = t.gradient(N * V);
      t.free(weights, scaled, atTargets);
      return [dLogits];
    });
  return customOpFootprint(t, [logits[1]], t.value(1, true), forward, [N * V, N, N], backward);
}
