// Rotary position embedding (Su et al. 2021, RoFormer) in Hugging Face's "rotate half" layout:
// dimension i of a head pairs with i + D/2. llama2.c's adjacent-pair layout is converted at load
// time (see llama2c_loader.ts), so this is the only RoPE the decoder runs.
import * as tf from "@tensorflow/tfjs-core";
import { customOp } from "../ops/custom_op.js";
import type { Handle, Timeline } from "../ops/footprint.js";

/** cos and sin tables for positions [start, start + T) of a head of width D; each [T, D]. */
export interface RopeTables {
  cos: tf.Tensor2D;
  sin: tf.Tensor2D;
}

/**
 * Builds the tables as Hugging Face's LlamaRotaryEmbedding does, in float32 arithmetic:
 * inv_freq[i] = 1 / theta^(2i/D), angle = position * inv_freq, duplicated over both halves.
 */
export function ropeTables(start: number, length: number, headDim: number, theta: number): RopeTables {
  const half = headDim / 2;
  const cos = new Float32Array(length * headDim);
  const sin = new Float32Array(length * headDim);
  for (let i = 0; i < half; i++) {
    const invFreq = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / headDim)));
    for (let t = 0; t < length; t++) {
      const angle = Math.fround((start + t) * invFreq);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[t * headDim + i] = cos[t * headDim + i + half] = c;
      sin[t * headDim + i] = sin[t * headDim + i + half] = s;
    }
  }
  return { cos: tf.tensor2d(cos, [length, headDim]), sin: tf.tensor2d(sin, [length, headDim]) };
}

/** The signed permutation R [D, D] with x @ R = rotate_half(x) = [-x2, x1] (one +-1 per column: exact). */
function rotateHalfMatrix(headDim: number): tf.Tensor2D {
  const half = headDim / 2;
  const values = new Float32Array(headDim * headDim);
  for (let j = 0; j < half; j++) {
    values[(j + half) * headDim + j] = -1; // out[j] = -x[j + D/2]
    values[j * headDim + j + half] = 1; // out[j + D/2] = x[j]
  }
  return tf.tensor2d(values, [headDim, headDim]);
}

/** rotate_half(x) for x: [..., D], without a gradient of its own. */
function rotateHalf<T extends tf.Tensor>(x: T): T {
  if (tf.getBackend() === "wasm") {
    // One 2-D GEMM instead of split + neg + concat, ~10x cheaper on wasm.
    const headDim = x.shape[x.rank - 1]!;
    const rows = tf.reshape(x, [-1, headDim]) as tf.Tensor2D; // [rows, D]
    return tf.reshape(tf.matMul(rows, rotateHalfMatrix(headDim)), x.shape) as T;
  }
  const [x1, x2] = tf.split(x, 2, -1); // each [..., D/2]
  return tf.concat([tf.neg(x2), x1], -1) as T; // [..., D]
}

/** x * cos + rotate_half(x) * sin for x: [..., T, D], without a gradient of its own (for code that writes its own). */
export function ropeForward<T extends tf.Tensor>(x: T, tables: RopeTables): T {
  return tf.tidy(() => tf.add(tf.mul(x, tables.cos), tf.mul(rotateHalf(x), tables.sin)) as T);
}

/**
 * The gradient of RoPE: dx = dy * cos - rotate_half(dy * sin) for dy: [..., T, D]. rotate_half is x @ R
 * with R^T = -R (R rotates each pair by 90 degrees), so the sin term's transpose is -rotate_half.
 */
export function ropeBackward<T extends tf.Tensor>(dy: T, tables: RopeTables): T {
  return tf.tidy(() => tf.sub(tf.mul(dy, tables.cos), rotateHalf(tf.mul(dy, tables.sin))) as T);
}

/** x: [..., T, D] -> [..., T, D]: x * cos + rotate_half(x) * sin, with rotate_half(x) = [-x2, x1]. */
export function applyRope<T extends tf.Tensor>(x: T, tables: RopeTables): T {
  return customOp<[T], T>({
    forward: (xIn) => ropeForward(xIn, tables),
    save: () => [tables.cos, tables.sin], // the tables may be gone by the backward
    backward: (dy, saved) => ropeBackward(dy, { cos: saved[0] as tf.Tensor2D, sin: saved[1] as tf.Tensor2D }),
  })(x);
}

/** ropeForward's and ropeBackward's footprint (ops/footprint.ts) on `size` elements of heads of width D, in a tidy; returns the result. */
export function ropeFootprint(t: Timeline, size: number, headDim: number): Handle {
  return t.tidy(() => {
    t.alloc(size); // x * cos
    if (t.backend === "wasm") {
      t.alloc(size); // rows reshaped
      t.alloc(headDim * headDim); // R
      t.alloc(size); // rows @ R
      t.alloc(size); // reshaped back
    } else {
      t.alloc(size); // two halves
      t.alloc(size / 2); // -x2
      t.alloc(size); // concat
    }
    t.alloc(size); // * sin
    return t.alloc(size); // sum
  });
}
