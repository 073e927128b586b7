// A low-rank update of a layer's output as one differentiable op: y + ((x A^T) B^T) * scaling, the
// LoRA branch added to its base output (Hu et al. 2021, eq. 3). As TF.js kernels the branch keeps x,
// x A^T, its scaled product and both of the sum's inputs for the backward, and the gradients of each;
// as one op it keeps x (A and B are the adapter's own) and recomputes x A^T in its gradient.
// Legend: N rows, I in features, O out features, R rank.
import * as tf from "@tensorflow/tfjs-core";
import { customOp, customOpFootprint } from "./custom_op.js";
import type { Timeline, Traced } from "./footprint.js";
import { productFootprint, productNN } from "./matmul.js";

/**
 * y + ((x A^T) B^T) * scaling for y: [N, O], x: [N, I], A: [R, I], B: [O, R] -> [N, O]; differentiable
 * with respect to all four (dy passes to y unchanged).
 */
export function lowRankUpdate(y: tf.Tensor2D, x: tf.Tensor2D, loraA: tf.Tensor2D, loraB: tf.Tensor2D, scaling: number): tf.Tensor2D {
  return customOp<[tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D], tf.Tensor2D>({
    forward: (yIn, xIn, a, b) => {
      const down = productNN(xIn, a, false, true); // x A^T: [N, R]
      return tf.add(yIn, tf.mul(productNN(down, b, false, true), scaling)); // + (x A^T) B^T s: [N, O]
    },
    save: (_yIn, xIn, a, b) => [xIn, a, b],
    backward: (dy, saved) => {
      const [x0, a0, b0] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      const down = productNN(x0, a0, false, true); // recomputed: [N, R]
      const dUp = tf.mul(dy, scaling); // [N, O]
      const dDown = productNN(dUp, b0, false, false); // dy s B: [N, R]
      const dB = productNN(dUp, down, true, false); // (dy s)^T (x A^T): [O, R]
      tf.dispose([dUp, down]);
      const dA = productNN(dDown, x0, true, false); // (dy s B)^T x: [R, I]
      const dx = productNN(dDown, a0, false, false); // dy s B A: [N, I]
      dDown.dispose();
      return [tf.reshape(dy, dy.shape), dx, dA, dB]; // y's gradient is dy (a second handle, as dy itself is freed)
    },
  })(y, x, loraA, loraB);
}

/** lowRankUpdate's footprint (footprint.ts) for y: [N, O], x: [N, I] and rank R: saves x, A and B; its gradient recomputes x A^T. */
export function lowRankUpdateFootprint(t: Timeline, y: Traced, x: Traced, rows: number, inFeatures: number, outFeatures: number, r: number): Traced {
  const [N, I, O] = [rows, inFeatures, outFeatures];
  const product = (m: number, k: number, n: number, transposeA: boolean, transposeB: boolean) => productFootprint(t, m, k, n, transposeA, transposeB);
  const forward = () => {
    product(N, I, r, false, true); // x A^T: [N, R]
    product(N, r, O, false, true); // (x A^T) B^T: [N, O]
    t.alloc(N * O); // * scaling
    return t.alloc(N * O); // y + .
  };
  const backward = () =>
    t.tidy(() => {
      const down = product(N, I, r, false, true); // x A^T, recomputed
      const dUp = t.alloc(N * O); // dy * scaling
      const dDown = product(N, O, r, false, false); // dUp B: [N, R]
      const dB = product(O, N, r, true, false); // dUp^T (x A^T): [O, R]
      t.free(dUp, down);
      const dA = product(r, N, I, true, false); // dDown^T x: [R, I]
      const dx = product(N, r, I, false, false); // dDown A: [N, I]
      t.free(dDown);
      return [t.alloc(N * O), dx, dA, dB]; // y's gradient: a reshape of dy (a handle of its own)
    });
  return customOpFootprint(t, [y[1], x[1], t.value(r * I, true), t.value(O * r, true)], t.value(N * O, true), forward, [N * I, r * I, O * r], backward);
}
