// Causal scaled dot-product attention with grouped-query heads (Ainslie et al. 2023, GQA), laid
// out so the G query heads sharing one key/value head are stacked along time: no K/V repetition.
// Legend: B batch, T query length, S key length (T plus cached positions), H query heads,
// K key/value heads, G = H / K, D head width, N = B * T rows.
import * as tf from "@tensorflow/tfjs-core";
import { matMulNN } from "./matmul.js";

/** q: [N, H*D] -> [B*K, G, T, D] (head h = k*G + g uses key/value head k, as Hugging Face's repeat_kv). */
export function splitQueryHeads(q: tf.Tensor2D, batch: number, kvHeads: number, group: number, headDim: number): tf.Tensor4D {
  return tf.tidy(() => {
    const time = q.shape[0] / batch;
    const q5 = tf.reshape(q, [batch, time, kvHeads, group, headDim]); // [B, T, K, G, D]
    const grouped = tf.transpose(q5, [0, 2, 3, 1, 4]); // [B, K, G, T, D]
    return tf.reshape(grouped, [batch * kvHeads, group, time, headDim]); // [B*K, G, T, D]
  });
}

/** k or v: [N, K*D] -> [B*K, T, D]. */
export function splitKvHeads(x: tf.Tensor2D, batch: number, kvHeads: number, headDim: number): tf.Tensor3D {
  return tf.tidy(() => {
    const time = x.shape[0] / batch;
    const x4 = tf.reshape(x, [batch, time, kvHeads, headDim]); // [B, T, K, D]
    return tf.reshape(tf.transpose(x4, [0, 2, 1, 3]), [batch * kvHeads, time, headDim]); // [B*K, T, D]
  });
}

/** o: [B*K, G*T, D] -> [N, H*D], the inverse of splitQueryHeads. */
export function mergeHeads(o: tf.Tensor3D, batch: number, kvHeads: number, group: number, headDim: number): tf.Tensor2D {
  return tf.tidy(() => {
    const time = o.shape[1] / group;
    const o5 = tf.reshape(o, [batch, kvHeads, group, time, headDim]); // [B, K, G, T, D]
    const rows = tf.transpose(o5, [0, 3, 1, 2, 4]); // [B, T, K, G, D]
    return tf.reshape(rows, [batch * time, kvHeads * group * headDim]); // [N, H*D]
  });
}

/**
 * Additive causal mask [G*T, S]: query t (at absolute position S - T + t) sees keys 0..S-T+t.
 * Returns undefined when every query sees every key (T = 1, decoding with a cache).
 */
export function causalMask(queryLength: number, keyLength: number, group: number): tf.Tensor2D | undefined {
  if (queryLength === 1) return undefined;
  const offset = keyLength - queryLength;
  const values = new Float32Array(group * queryLength * keyLength);
  for (let g = 0; g < group; g++) {
    for (let t = 0; t < queryLength; t++) {
      const row = (g * queryLength + t) * keyLength;
      for (let s = offset + t + 1; s < keyLength; s++) values[row + s] = -1e9;
    }
  }
  return tf.tensor2d(values, [group * queryLength, keyLength]);
}

/**
 * softmax(q k^T / sqrt(D) + mask) v for q: [B*K, G*T, D], k and v: [B*K, S, D] -> [B*K, G*T, D].
 * `mask` is causalMask(T, S, G) (or undefined for a single query).
 */
export function groupedAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, mask: tf.Tensor2D | undefined): tf.Tensor3D {
  return tf.tidy(() => {
    const scale = 1 / Math.sqrt(q.shape[2]);
    let scores = matMulNN(tf.mul(q, scale) as tf.Tensor3D, k, false, true); // [B*K, G*T, S]
    if (mask) scores = tf.add(scores, mask);
    return matMulNN(tf.softmax(scores) as tf.Tensor3D, v); // [B*K, G*T, D]
  });
}
