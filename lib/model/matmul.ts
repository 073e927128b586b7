// Matrix products whose forward AND backward run as untransposed (NN) 2-D matMuls. TF.js's wasm
// BatchMatMul reaches XNNPACK's fast GEMM only for one untransposed 2-D product; with a transpose
// flag or a batch above 1 it falls back to a scalar loop (tfjs-backend-wasm batch_mat_mul_impl.cc,
// ~0.6 GFLOP/s against ~6-15), and tf.matMul's own gradient asks for exactly those (dy^T x, dy W^T).
import * as tf from "@tensorflow/tfjs-core";

/** Smallest per-matrix m * k * n for which wasm batches run as separate 2-D products (below it, per-op cost wins). */
const GROUPED_MIN_WORK = 32 * 32 * 32;

/** The last two axes swapped: [..., m, n] -> [..., n, m]. */
function swapLast<T extends tf.Tensor>(x: T): T {
  const rank = x.rank;
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return tf.transpose(x, perm);
}

/** rows x cols matrix at `offset` of `src`, transposed into `dst` (cols x rows). */
function transposeInto(src: Float32Array, offset: number, rows: number, cols: number, dst: Float32Array): Float32Array {
  for (let r = 0; r < rows; r++) {
    const base = offset + r * cols;
    for (let c = 0; c < cols; c++) dst[c * rows + r] = src[base + c]!;
  }
  return dst;
}

/**
 * op(a) @ op(b) for a, b: [G, ., .] on wasm, one untransposed 2-D product per matrix of the batch
 * (XNNPACK's path); the operands are read once and transposed on the host while they are split.
 */
function groupedProduct(a: tf.Tensor3D, b: tf.Tensor3D, transposeA: boolean, transposeB: boolean): tf.Tensor3D {
  return tf.tidy(() => {
    const [groups, a1, a2] = a.shape;
    const [, b1, b2] = b.shape;
    const [m, k] = transposeA ? [a2, a1] : [a1, a2];
    const n = transposeB ? b1 : b2;
    const aData = a.dataSync() as Float32Array;
    const bData = b.dataSync() as Float32Array;
    const aScratch = new Float32Array(m * k);
    const bScratch = new Float32Array(k * n);
    const products: tf.Tensor2D[] = [];
    for (let g = 0; g < groups; g++) {
      const aOffset = g * m * k;
      const bOffset = g * k * n;
      // A tensor copies its values into the backend, so the scratch buffers are reused.
      const left = transposeA ? transposeInto(aData, aOffset, k, m, aScratch) : aData.subarray(aOffset, aOffset + m * k); // [m, k]
      const right = transposeB ? transposeInto(bData, bOffset, n, k, bScratch) : bData.subarray(bOffset, bOffset + k * n); // [k, n]
      products.push(tf.matMul(tf.tensor2d(left, [m, k]), tf.tensor2d(right, [k, n]))); // [m, n]
    }
    return tf.stack(products) as tf.Tensor3D; // [G, m, n]
  });
}

/** op(a) @ op(b) without a gradient of its own, computed through NN products only. */
function product<T extends tf.Tensor>(a: T, b: T, transposeA: boolean, transposeB: boolean): T {
  if (a.rank === 3 && a.shape[0]! > 1 && b.shape[0] === a.shape[0] && tf.getBackend() === "wasm") {
    const [, a1, a2] = a.shape as number[];
    const n = transposeB ? b.shape[1]! : b.shape[2]!;
    if (a1! * a2! * n >= GROUPED_MIN_WORK) return groupedProduct(a as unknown as tf.Tensor3D, b as unknown as tf.Tensor3D, transposeA, transposeB) as unknown as T;
  }
  return tf.matMul(transposeA ? swapLast(a) : a, transposeB ? swapLast(b) : b) as unknown as T; // [..., m, n]
}

/**
 * op(a) @ op(b) for rank-2 or batched rank-3 tensors, as tf.matMul(a, b, transposeA, transposeB),
 * differentiable through a gradient that also uses only NN products.
 */
export function matMulNN<T extends tf.Tensor2D | tf.Tensor3D>(a: T, b: T, transposeA = false, transposeB = false): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [aIn, bIn, save] = args as [T, T, tf.GradSaveFunc];
    save([aIn, bIn]);
    return {
      value: product(aIn, bIn, transposeA, transposeB), // [..., m, n]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [a0, b0] = saved as [T, T];
        const g = dy as T;
        // y = op(A) op(B): d op(A) = dy op(B)^T, d op(B) = op(A)^T dy; a transposed input takes the transpose back.
        const da = transposeA ? product(b0, g, transposeB, true) : product(g, b0, false, !transposeB);
        const db = transposeB ? product(g, a0, true, transposeA) : product(a0, g, !transposeA, false);
        return [da, db];
      },
    };
  });
  return op(a, b) as T;
}
