// Matrix products whose forward AND backward run as untransposed (NN) matMuls on explicitly
// transposed operands. TF.js's wasm BatchMatMul is ~8x slower when asked to transpose an operand
// (measured by bench/step.ts), and tf.matMul's own gradient asks for exactly that (dy^T x, dy W^T).
import * as tf from "@tensorflow/tfjs-core";

/** The last two axes swapped: [..., m, n] -> [..., n, m]. */
function swapLast<T extends tf.Tensor>(x: T): T {
  const rank = x.rank;
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return tf.transpose(x, perm);
}

/**
 * op(a) @ op(b) for rank-2 or batched rank-3 tensors, as tf.matMul(a, b, transposeA, transposeB),
 * differentiable through a gradient that also uses only NN products.
 */
export function matMulNN<T extends tf.Tensor2D | tf.Tensor3D>(a: T, b: T, transposeA = false, transposeB = false): T {
  const product = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [aIn, bIn, save] = args as [T, T, tf.GradSaveFunc];
    save([aIn, bIn]);
    const A = transposeA ? swapLast(aIn) : aIn; // [..., m, k]
    const B = transposeB ? swapLast(bIn) : bIn; // [..., k, n]
    return {
      value: tf.matMul(A, B) as T, // [..., m, n]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [a0, b0] = saved as [T, T];
        // y = A B: dA = dy B^T, dB = A^T dy; for a transposed input the gradient is transposed back.
        const da = transposeA ? tf.matMul(transposeB ? swapLast(b0) : b0, swapLast(dy)) : tf.matMul(dy, transposeB ? b0 : swapLast(b0));
        const db = transposeB ? tf.matMul(swapLast(dy), transposeA ? swapLast(a0) : a0) : tf.matMul(transposeA ? a0 : swapLast(a0), dy);
        return [da, db];
      },
    };
  });
  return product(a, b) as T;
}
