// Rotary position embedding (Su et al. 2021, RoFormer) in Hugging Face's "rotate half" layout:
// dimension i of a head pairs with i + D/2. llama2.c's adjacent-pair layout is converted at load
// time (see llama2c_loader.ts), so this is the only RoPE the decoder runs.
import * as tf from "@tensorflow/tfjs-core";

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

/** x: [..., T, D] -> [..., T, D]: x * cos + rotate_half(x) * sin, with rotate_half(x) = [-x2, x1]. */
export function applyRope<T extends tf.Tensor>(x: T, tables: RopeTables): T {
  return tf.tidy(() => {
    const [x1, x2] = tf.split(x, 2, -1); // each [..., T, D/2]
    const rotated = tf.concat([tf.neg(x2), x1], -1); // [..., T, D]
    return tf.add(tf.mul(x, tables.cos), tf.mul(rotated, tables.sin)) as T;
  });
}
