// Causal scaled dot-product attention with grouped-query heads (Ainslie et al. 2023, GQA), laid
// out so the G query heads sharing one key/value head are stacked along time: no K/V repetition.
// Legend: B batch, T query length, S key length (T plus cached positions), H query heads,
// K key/value heads, G = H / K, D head width, N = B * T rows.
import * as tf from "@tensorflow/tfjs-core";
import { customOp, customOpFootprint } from "../ops/custom_op.js";
import type { Handle, Timeline, Traced } from "../ops/footprint.js";
import { matMulNN, productFootprint, productNN } from "../ops/matmul.js";
import { ropeBackward, ropeFootprint, ropeForward, type RopeTables } from "./rope.js";

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

/** How selfAttention splits its rows and channels: B sequences, K key/value heads, G = H / K, width D. */
export interface AttentionLayout {
  batch: number;
  kvHeads: number;
  group: number;
  headDim: number;
}

/**
 * One block's causal self-attention from its projections, as one differentiable op: q: [N, H*D],
 * k, v: [N, K*D] -> [N, H*D] (heads split, RoPE on q and k, softmax(q k^T / sqrt(D) + mask) v, heads
 * merged). The autodiff keeps only q, k, v and the tables; the backward recomputes the probabilities
 * from them (activation checkpointing of the attention core) and writes the gradient with NN products.
 * `mask` is causalMask(T, T, G) (undefined for T = 1).
 */
export function selfAttention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, layout: AttentionLayout, rope: RopeTables, mask: tf.Tensor2D | undefined): tf.Tensor2D {
  const { batch, kvHeads, group, headDim } = layout;
  const time = q.shape[0] / batch;
  const scale = 1 / Math.sqrt(headDim);
  const [bk, gt] = [batch * kvHeads, group * time];
  /** q, k, v [N, *] -> heads: q RoPE'd and scaled [B*K, G*T, D]; k RoPE'd and v, each [B*K, T, D]. */
  const heads = (q2: tf.Tensor2D, k2: tf.Tensor2D, v2: tf.Tensor2D, tables: RopeTables): tf.Tensor3D[] =>
    tf.tidy(() => [
      tf.mul(tf.reshape(ropeForward(splitQueryHeads(q2, batch, kvHeads, group, headDim), tables), [bk, gt, headDim]), scale) as tf.Tensor3D,
      ropeForward(splitKvHeads(k2, batch, kvHeads, headDim), tables),
      splitKvHeads(v2, batch, kvHeads, headDim),
    ]);
  /** softmax(qs kh^T + mask): [B*K, G*T, T]. */
  const probabilities = (qs: tf.Tensor3D, kh: tf.Tensor3D, m: tf.Tensor2D | undefined): tf.Tensor3D =>
    tf.tidy(() => {
      const scores = productNN(qs, kh, false, true); // [B*K, G*T, T]
      return tf.softmax(m ? tf.add(scores, m) : scores) as tf.Tensor3D;
    });
  // Both passes free each intermediate as soon as it has been read, so at most a few [B*K, G*T, T]
  // tensors are alive at once.
  return customOp<[tf.Tensor2D, tf.Tensor2D, tf.Tensor2D], tf.Tensor2D>({
    forward: (qIn, kIn, vIn) => {
      const [qs, kh, vh] = heads(qIn, kIn, vIn, rope) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
      const probs = probabilities(qs, kh, mask);
      tf.dispose([qs, kh]);
      const out = productNN(probs, vh, false, false); // [B*K, G*T, D]
      tf.dispose([probs, vh]);
      return mergeHeads(out, batch, kvHeads, group, headDim); // [N, H*D]
    },
    save: (qIn, kIn, vIn) => (mask ? [qIn, kIn, vIn, rope.cos, rope.sin, mask] : [qIn, kIn, vIn, rope.cos, rope.sin]), // tables and mask may be gone by the backward
    backward: (dy, saved) => {
      const [q0, k0, v0, cos, sin, m] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D | undefined];
      const tables = { cos, sin };
      const [qs, kh, vh] = heads(q0, k0, v0, tables) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
      tf.dispose([q0, k0, v0]); // read once (disposing a saved copy twice is a no-op)
      const probs = probabilities(qs, kh, m);
      const dOut = tf.tidy(() => tf.reshape(splitQueryHeads(dy, batch, kvHeads, group, headDim), [bk, gt, headDim]) as tf.Tensor3D); // [B*K, G*T, D]
      const dV = productNN(probs, dOut, true, false); // P^T dO: [B*K, T, D]
      const dP = productNN(dOut, vh, false, true); // dO V^T: [B*K, G*T, T]
      tf.dispose([dOut, vh]);
      // softmax's Jacobian: dS = P (dP - rowsum(dP P)), [B*K, G*T, T].
      const rowSums = tf.tidy(() => tf.sum(tf.mul(dP, probs), -1, true)); // [B*K, G*T, 1]
      const centred = tf.sub(dP, rowSums);
      tf.dispose([dP, rowSums]);
      const dS = tf.mul(probs, centred) as tf.Tensor3D;
      tf.dispose([probs, centred]);
      const dq = tf.tidy(() => {
        const dQ = tf.reshape(tf.mul(productNN(dS, kh, false, false), scale), [bk, group, time, headDim]); // dS K / sqrt(D): [B*K, G, T, D]
        return mergeHeads(tf.reshape(ropeBackward(dQ, tables), [bk, gt, headDim]) as tf.Tensor3D, batch, kvHeads, group, headDim); // [N, H*D]
      });
      const dk = tf.tidy(() => mergeHeads(ropeBackward(productNN(dS, qs, true, false), tables), batch, kvHeads, 1, headDim)); // dS^T Q / sqrt(D): [B*K, T, D] -> [N, K*D]
      tf.dispose([dS, kh, qs]);
      const dv = mergeHeads(dV, batch, kvHeads, 1, headDim); // [N, K*D]
      dV.dispose();
      return [dq, dk, dv];
    },
  })(q, k, v);
}

/** splitQueryHeads', splitKvHeads' and mergeHeads' footprint (ops/footprint.ts) on `size` elements: reshape, transpose, reshape in a tidy. */
function regroupFootprint(t: Timeline, size: number): Handle {
  return t.tidy(() => {
    t.alloc(size);
    t.alloc(size);
    return t.alloc(size);
  });
}

/**
 * selfAttention's footprint (ops/footprint.ts) for q: [N, H*D], k, v: [N, K*D] with `time` positions per
 * sequence: saves q, k, v, the RoPE tables and the mask; its gradient recomputes the probabilities.
 */
export function selfAttentionFootprint(t: Timeline, q: Traced, k: Traced, v: Traced, layout: AttentionLayout & { time: number }): Traced {
  const { batch: B, time: T, kvHeads: K, group: G, headDim: D } = layout;
  const N = B * T;
  const H = K * G;
  const Q = N * H * D;
  const KV = N * K * D;
  const S = B * H * T * T; // [B*K, G*T, T]
  const maskSize = T > 1 ? G * T * T : 0;
  const batched = (m: number, kk: number, n: number, transposeA: boolean, transposeB: boolean) => productFootprint(t, m, kk, n, transposeA, transposeB, B * K);
  const heads = () =>
    t.tidy(() => {
      regroupFootprint(t, Q); // split
      ropeFootprint(t, Q, D);
      t.alloc(Q); // reshaped to [B*K, G*T, D]
      const qs = t.alloc(Q); // scaled
      regroupFootprint(t, KV);
      const kh = ropeFootprint(t, KV, D);
      const vh = regroupFootprint(t, KV);
      return [qs, kh, vh];
    });
  const probabilities = () =>
    t.tidy(() => {
      batched(G * T, D, T, false, true); // scores
      if (maskSize) t.alloc(S); // + mask
      return t.alloc(S); // softmax
    });
  const forward = () => {
    const [qs, kh, vh] = heads();
    const probs = probabilities();
    t.free(qs, kh);
    batched(G * T, T, D, false, false); // probs v
    t.free(probs, vh);
    return regroupFootprint(t, Q); // heads merged
  };
  const backward = (_dy: Handle, saved: Handle[]) =>
    t.tidy(() => {
      const [qs, kh, vh] = heads();
      t.free(...saved.slice(0, 3)); // q, k, v: read once
      const probs = probabilities();
      const dOut = t.tidy(() => {
        regroupFootprint(t, Q);
        return t.alloc(Q);
      });
      const dV = batched(T, G * T, D, true, false);
      const dP = batched(G * T, D, T, false, true);
      t.free(dOut, vh);
      const rowSums = t.tidy(() => {
        t.alloc(S); // dP * probs
        return t.alloc(S / T); // reduced to row sums [B*K, G*T, 1]
      });
      const centred = t.alloc(S);
      t.free(dP, rowSums);
      const dS = t.alloc(S);
      t.free(probs, centred);
      const dq = t.tidy(() => {
        batched(G * T, T, D, false, false);
        t.alloc(Q); // / sqrt(D)
        t.alloc(Q); // reshaped
        ropeFootprint(t, Q, D);
        t.alloc(Q); // reshaped
        return regroupFootprint(t, Q);
      });
      const dk = t.tidy(() => {
        batched(T, G * T, D, true, false);
        ropeFootprint(t, KV, D);
        return regroupFootprint(t, KV);
      });
      t.free(dS, kh, qs);
      const dv = regroupFootprint(t, KV);
      t.free(dV);
      return [dq, dk, dv];
    });
  return customOpFootprint(t, [q[1], k[1], v[1]], t.value(Q, true), forward, [Q, KV, KV, 2 * T * D + maskSize], backward);
}
