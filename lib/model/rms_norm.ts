// RMSNorm (Zhang & Sennrich 2019), as LLaMA uses it: y = x / sqrt(mean(x^2) + eps) * weight.
// One differentiable op whose gradient is written out (the paper's eq. 5-6), so the autodiff keeps
// only x and the weight instead of every intermediate and its gradient.
import * as tf from "@tensorflow/tfjs-core";
import { customOp, customOpFootprint } from "../ops/custom_op.js";
import { productFootprint, productNN } from "../ops/matmul.js";
import type { Timeline, Traced } from "../ops/footprint.js";

/** x: [..., C], weight: [C] -> [..., C], normalised over the last axis. */
export function rmsNorm<T extends tf.Tensor>(x: T, weight: tf.Tensor1D, eps: number): T {
  const width = x.shape[x.rank - 1]!;
  return customOp<[T, tf.Tensor1D], T>({
    forward: (xIn, wIn) => {
      const meanSquare = tf.mean(tf.square(xIn), -1, true); // [..., 1]
      return tf.mul(tf.mul(xIn, tf.rsqrt(tf.add(meanSquare, eps))), wIn) as T;
    },
    save: (xIn, wIn) => [xIn, wIn],
    backward: (dy, saved) => {
      const [x0, w0] = saved as [T, tf.Tensor1D];
      // With r = rsqrt(mean(x^2) + eps) and xhat = x r: dx = r (g - xhat mean(g xhat)) for g = dy w,
      // and dw = the sum over rows of dy xhat. Each [..., C] temporary is freed once read.
      const r = tf.tidy(() => tf.rsqrt(tf.add(tf.mean(tf.square(x0), -1, true), eps))); // [..., 1]
      const xhat = tf.mul(x0, r);
      // dw sums over rows as a product with a row of ones: TF.js's wasm sum over a leading axis takes
      // about 2.1 ms for [1024, 256] on one core, the product about 0.03 ms.
      const dw = tf.tidy(() => {
        const perRow = tf.reshape(tf.mul(dy, xhat), [-1, width]) as tf.Tensor2D; // [N, C]
        return tf.reshape(productNN(tf.ones([1, perRow.shape[0]]) as tf.Tensor2D, perRow, false, false), [width]); // [C]
      });
      const g = tf.mul(dy, w0);
      const projection = tf.tidy(() => tf.mean(tf.mul(g, xhat), -1, true)); // [..., 1]
      const along = tf.mul(xhat, projection);
      tf.dispose([xhat, projection]);
      const centred = tf.sub(g, along);
      tf.dispose([g, along]);
      const dx = tf.mul(r, centred);
      tf.dispose([r, centred]);
      return [dx, dw];
    },
  })(x, weight);
}

/** rmsNorm's footprint (ops/footprint.ts) for x: [N, C]: saves x and the weight; its gradient holds at most three [N, C] temporaries. */
export function rmsNormFootprint(t: Timeline, x: Traced, rows: number, width: number, weightTrains: boolean): Traced {
  const N = rows;
  const w = t.value(width, weightTrains);
  const forward = () => {
    t.alloc(N * width); // square
    t.alloc(3 * N); // mean, + eps, rsqrt
    t.alloc(N * width); // x * rsqrt(.)
    return t.alloc(N * width); // * w
  };
  const backward = () =>
    t.tidy(() => {
      const r = t.tidy(() => {
        t.alloc(N * width); // square
        t.alloc(2 * N); // mean, + eps
        return t.alloc(N); // rsqrt
      });
      const xhat = t.alloc(N * width);
      const dw = t.tidy(() => {
        t.alloc(N * width); // dy * xhat (reshaped in place)
        t.alloc(N); // the row of ones
        return productFootprint(t, 1, N, width, false, false); // [1, C], reshaped in place to [C]
      });
      const g = t.alloc(N * width);
      const projection = t.tidy(() => {
        t.alloc(N * width); // g * xhat
        return t.alloc(N); // its row means
      });
      const along = t.alloc(N * width);
      t.free(xhat, projection);
      const centred = t.alloc(N * width);
      t.free(g, along);
      const dx = t.gradient(N * width);
      t.free(r, centred);
      return [dx, dw];
    });
  return customOpFootprint(t, [x[1], w], t.value(N * width, x[1].onPath || weightTrains), forward, [N * width, width], backward);
}
