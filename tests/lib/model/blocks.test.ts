import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { adjacentToHalfRows, applyRope, causalMask, embeddingLookup, groupedAttention, maskedCrossEntropy, mergeHeads, rmsNorm, ropeTables, splitKvHeads, splitQueryHeads, swiglu, type RopeTables } from "../../../lib/model/index.js";
import { selfAttention } from "../../../lib/model/attention.js";
import { residualAdd } from "../../../lib/model/residual.js";
import { lowRankUpdate } from "../../../lib/ops/low_rank.js";
import { assertClose } from "./helpers.js";

before(async () => {
  await resolveBackend();
});

test("rmsNorm: hand-computed [3, 4] with weight [1, 2]", () => {
  const y = rmsNorm(tf.tensor2d([[3, 4]]), tf.tensor1d([1, 2]), 0);
  const rms = Math.sqrt((9 + 16) / 2);
  assertClose(y.dataSync(), [3 / rms, (2 * 4) / rms], 1e-6);
  tf.dispose(y);
});

test("RoPE: position 0 is the identity; position 1 rotates pairs (i, i + D/2) by position * theta^(-2i/D)", () => {
  const x = tf.tensor2d([[1, 2, 3, 4]]); // [T=1, D=4]
  const at0 = ropeTables(0, 1, 4, 10000);
  const at1 = ropeTables(1, 1, 4, 10000);
  const y0 = applyRope(x, at0);
  const y1 = applyRope(x, at1);
  assertClose(y0.dataSync(), [1, 2, 3, 4], 1e-7);
  const [a, b] = [1, 0.01]; // angles: 1 * 10000^0, 1 * 10000^(-2/4)
  assertClose(y1.dataSync(), [1 * Math.cos(a) - 3 * Math.sin(a), 2 * Math.cos(b) - 4 * Math.sin(b), 3 * Math.cos(a) + 1 * Math.sin(a), 4 * Math.cos(b) + 2 * Math.sin(b)], 1e-6);
  tf.dispose([x, y0, y1, at0.cos, at0.sin, at1.cos, at1.sin]);
});

test("llama2.c adjacent-pair rows become rotate-half rows: per head [0, 1, 2, 3] -> [0, 2, 1, 3]", () => {
  const w = Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]); // 2 heads of D=4, one column
  assert.deepEqual([...adjacentToHalfRows(w, 2, 4, 1)], [0, 2, 1, 3, 10, 12, 11, 13]);
});

test("RoPE on permuted rows equals llama2.c's adjacent-pair rotation (scores are invariant)", () => {
  // llama2.c rotates (x[2i], x[2i+1]) by pos * theta^(-2i/D); check <rot q, rot k> matches after permutation.
  const D = 8;
  const q = Float32Array.from({ length: D }, (_, i) => Math.sin(i + 1));
  const k = Float32Array.from({ length: D }, (_, i) => Math.cos(3 * i));
  const rotateAdjacent = (v: Float32Array, pos: number) => {
    const out = new Float32Array(D);
    for (let i = 0; i < D; i += 2) {
      const angle = pos * 10000 ** (-i / D);
      out[i] = v[i]! * Math.cos(angle) - v[i + 1]! * Math.sin(angle);
      out[i + 1] = v[i]! * Math.sin(angle) + v[i + 1]! * Math.cos(angle);
    }
    return out;
  };
  const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i]!, 0);
  const wanted = dot(rotateAdjacent(q, 5), rotateAdjacent(k, 2));
  const tq = ropeTables(5, 1, D, 10000);
  const tk = ropeTables(2, 1, D, 10000);
  const rq = applyRope(tf.tensor2d(adjacentToHalfRows(q, 1, D, 1), [1, D]), tq);
  const rk = applyRope(tf.tensor2d(adjacentToHalfRows(k, 1, D, 1), [1, D]), tk);
  assertClose([dot(rq.dataSync(), rk.dataSync())], [wanted], 1e-5);
  tf.dispose([rq, rk, tq.cos, tq.sin, tk.cos, tk.sin]);
});

test("attention: hand-computed causal case (one head, D = 1)", () => {
  // scores for query 1: [1*0, 1*ln 3] -> softmax [1/4, 3/4]; query 0 sees only key 0.
  const q = tf.tensor3d([[[1], [1]]]); // [1, T=2, D=1]
  const k = tf.tensor3d([[[0], [Math.log(3)]]]);
  const v = tf.tensor3d([[[2], [6]]]);
  const mask = causalMask(2, 2, 1);
  const out = groupedAttention(q, k, v, mask);
  assertClose(out.dataSync(), [2, 2 / 4 + (6 * 3) / 4], 1e-5);
  tf.dispose([q, k, v, mask!, out]);
});

test("causal mask with cached positions: query t sees keys up to S - T + t", () => {
  const mask = causalMask(2, 4, 1)!; // 2 new queries after 2 cached keys
  assert.deepEqual(Array.from(mask.dataSync(), (x) => (x < 0 ? 1 : 0)), [0, 0, 0, 1, 0, 0, 0, 0]);
  assert.equal(causalMask(1, 7, 4), undefined);
  mask.dispose();
});

test("grouped-query attention equals per-head attention with repeated key/value heads", () => {
  const [B, T, H, K, D] = [2, 3, 4, 2, 2];
  const G = H / K;
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + s));
  const qv = rand(B * T * H * D, 1);
  const kv = rand(B * T * K * D, 2);
  const vv = rand(B * T * K * D, 3);
  const ours = tf.tidy(() => {
    const q = tf.reshape(splitQueryHeads(tf.tensor2d(qv, [B * T, H * D]), B, K, G, D), [B * K, G * T, D]) as tf.Tensor3D;
    const k = splitKvHeads(tf.tensor2d(kv, [B * T, K * D]), B, K, D);
    const v = splitKvHeads(tf.tensor2d(vv, [B * T, K * D]), B, K, D);
    return mergeHeads(groupedAttention(q, k, v, causalMask(T, T, G)), B, K, G, D);
  });
  // Naive reference: head h uses kv head floor(h / G) (Hugging Face's repeat_kv).
  const wanted = new Float32Array(B * T * H * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let t = 0; t < T; t++) {
        const kvh = Math.floor(h / G);
        const scores = [];
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qv[((b * T + t) * H + h) * D + d]! * kv[((b * T + s) * K + kvh) * D + d]!;
          scores.push(dot / Math.sqrt(D));
        }
        const max = Math.max(...scores);
        const e = scores.map((x) => Math.exp(x - max));
        const z = e.reduce((a, c) => a + c, 0);
        for (let d = 0; d < D; d++) wanted[((b * T + t) * H + h) * D + d] = e.reduce((acc, w, s) => acc + (w / z) * vv[((b * T + s) * K + kvh) * D + d]!, 0);
      }
  assertClose(ours.dataSync(), wanted, 1e-5);
  ours.dispose();
});

test("swiglu: silu(gate) * up, hand-computed", () => {
  const y = swiglu(tf.tensor2d([[0, 1, -2]]), tf.tensor2d([[5, 2, 3]]));
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  assertClose(y.dataSync(), [0, 2 * sig(1), 3 * -2 * sig(-2)], 1e-6);
  y.dispose();
});

test("embedding lookup: values, the scatter-add gradient on the active backend (wasm has no gather gradient), an id out of range refused", () => {
  const table = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
  const ids = tf.tensor1d([0, 2, 0], "int32");
  const weights = tf.tensor2d([[1, 10], [100, 1000], [7, 70]]);
  const looked = embeddingLookup(table, ids);
  assert.deepEqual([...looked.dataSync()], [1, 2, 5, 6, 1, 2]);
  const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(embeddingLookup(t as tf.Tensor2D, ids), weights)))(table);
  assert.deepEqual([...grad.dataSync()], [8, 80, 0, 0, 100, 1000]); // row 0 = w0 + w2, row 2 = w1
  const outside = tf.tensor1d([1, 3], "int32");
  const before = tf.memory().numTensors;
  // wasm: the heap copy's own error; other backends: tf.gather's ("the index value 3 is not in [0, 2]").
  assert.throws(() => embeddingLookup(table, outside), tf.getBackend() === "wasm" ? /expected token ids in \[0, 3\), got 3\. Position 1 is out of range/ : /index value 3/);
  assert.equal(tf.memory().numTensors, before, "a refused lookup leaves no tensor behind");
  tf.dispose([table, ids, weights, looked, grad, outside]);
});

test("masked cross-entropy: only counted positions, mean over them, 0 when none are counted", () => {
  const logits = tf.tensor2d([[0, 0], [Math.log(3), 0]]);
  const targets = tf.tensor1d([0, 0], "int32");
  const cases: [number[], number][] = [[[1, 0], Math.log(2)], [[0, 1], -Math.log(3 / 4)], [[1, 1], (Math.log(2) - Math.log(3 / 4)) / 2], [[0, 0], 0]];
  for (const [m, want] of cases) {
    const mask = tf.tensor1d(m);
    const loss = maskedCrossEntropy(logits, targets, mask);
    assertClose([loss.dataSync()[0]!], [want], 1e-6, `mask ${m}`);
    tf.dispose([mask, loss]);
  }
  tf.dispose([logits, targets]);
});

test("blocks leave no tensors behind", () => {
  const before = tf.memory().numTensors;
  const x = tf.tensor2d([[1, 2, 3, 4]]);
  const tables = ropeTables(0, 1, 4, 10000);
  tf.dispose([rmsNorm(x, tf.tensor1d([1, 1, 1, 1]), 1e-5), applyRope(x, tables), swiglu(x, x)]);
  tf.dispose([x, tables.cos, tables.sin]);
  // The weight tensor1d above is the only extra; count it via a fresh scope.
  assert.ok(tf.memory().numTensors - before <= 1);
});

// The blocks' hand-written gradients against TF.js's autodiff of the plain formulas (tf.matMul, split and
// concat, logSoftmax and a one-hot product): values and every input's gradient of sum(y * probe).

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1);
}

/** Compares f and reference on the same inputs: outputs, and the gradients of sum(output * probe) for every input. */
function assertSameGradients(what: string, inputs: tf.Tensor[], f: (...x: tf.Tensor[]) => tf.Tensor, reference: (...x: tf.Tensor[]) => tf.Tensor, tol = 1e-5): void {
  const [y, want] = tf.tidy(() => [f(...inputs), reference(...inputs)]);
  assertClose(y.dataSync(), want.dataSync(), tol, `${what}: value`);
  const probe = tf.tensor(values(y.size, 77), y.shape);
  const ours = tf.grads((...x: tf.Tensor[]) => tf.sum(tf.mul(f(...x), probe)))(inputs);
  const theirs = tf.grads((...x: tf.Tensor[]) => tf.sum(tf.mul(reference(...x), probe)))(inputs);
  ours.forEach((g, i) => assertClose(g.dataSync(), theirs[i]!.dataSync(), tol, `${what}: gradient of input ${i}`));
  tf.dispose([y, want, probe, ...ours, ...theirs]);
}

const plainRope = (x: tf.Tensor, t: RopeTables) => {
  const [x1, x2] = tf.split(x, 2, -1);
  return tf.add(tf.mul(x, t.cos), tf.mul(tf.concat([tf.neg(x2!), x1!], -1), t.sin));
};

test("rmsNorm, swiglu, RoPE and the residual add: hand-written gradients equal autodiff of the plain formulas", () => {
  const before = tf.memory().numTensors;
  const [N, C, T, D] = [6, 8, 3, 8];
  const x = tf.tensor2d(values(N * C, 1), [N, C]);
  const w = tf.tensor1d(values(C, 2));
  assertSameGradients("rmsNorm", [x, w], (a, b) => rmsNorm(a!, b as tf.Tensor1D, 1e-5), (a, b) => tf.mul(tf.mul(a!, tf.rsqrt(tf.add(tf.mean(tf.square(a!), -1, true), 1e-5))), b!));
  const up = tf.tensor2d(values(N * C, 3), [N, C]);
  assertSameGradients("swiglu", [x, up], (a, b) => swiglu(a as tf.Tensor2D, b as tf.Tensor2D), (a, b) => tf.mul(tf.mul(a!, tf.sigmoid(a!)), b!));
  const tables = ropeTables(2, T, D, 10000);
  const heads = tf.tensor3d(values(2 * T * D, 4), [2, T, D]);
  assertSameGradients("RoPE", [heads], (a) => applyRope(a!, tables), (a) => plainRope(a!, tables));
  assertSameGradients("residual add", [x, up], (a, b) => residualAdd(a!, b!), (a, b) => tf.add(a!, b!));
  tf.dispose([x, w, up, heads, tables.cos, tables.sin]);
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
});

test("self-attention (GQA, RoPE, causal mask) as one op: value and gradients of q, k, v equal autodiff of the plain formulas", () => {
  const before = tf.memory().numTensors;
  // Large enough (G*T*T*D) that wasm takes its grouped-product path.
  for (const [B, T, K, G, D] of [[2, 5, 2, 2, 4], [2, 32, 2, 2, 32]] as const) {
    const N = B * T;
    const q = tf.tensor2d(values(N * K * G * D, 5), [N, K * G * D]);
    const k = tf.tensor2d(values(N * K * D, 6), [N, K * D]);
    const v = tf.tensor2d(values(N * K * D, 7), [N, K * D]);
    const tables = ropeTables(0, T, D, 10000);
    const mask = causalMask(T, T, G)!;
    const plain = (qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor) => {
      const qh = tf.reshape(plainRope(splitQueryHeads(qi as tf.Tensor2D, B, K, G, D), tables), [B * K, G * T, D]);
      const kh = plainRope(splitKvHeads(ki as tf.Tensor2D, B, K, D), tables);
      const probs = tf.softmax(tf.add(tf.matMul(tf.mul(qh, 1 / Math.sqrt(D)), kh, false, true), mask));
      return mergeHeads(tf.matMul(probs, splitKvHeads(vi as tf.Tensor2D, B, K, D)) as tf.Tensor3D, B, K, G, D);
    };
    const ours = (qi: tf.Tensor, ki: tf.Tensor, vi: tf.Tensor) => selfAttention(qi as tf.Tensor2D, ki as tf.Tensor2D, vi as tf.Tensor2D, { batch: B, kvHeads: K, group: G, headDim: D }, tables, mask);
    assertSameGradients(`self-attention B ${B} T ${T}`, [q, k, v], (a, b, c) => ours(a!, b!, c!), (a, b, c) => plain(a!, b!, c!));
    tf.dispose([q, k, v, tables.cos, tables.sin, mask]);
  }
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
});

test("masked cross-entropy's fused gradient (softmax - one_hot) * mask / counted equals autodiff of logSoftmax and a one-hot product", () => {
  const before = tf.memory().numTensors;
  const [N, V] = [7, 11];
  const logits = tf.tensor2d(values(N * V, 8), [N, V]);
  const targets = tf.tensor1d([0, 3, 10, 5, 5, 1, 9], "int32");
  for (const m of [[1, 1, 0, 1, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0]]) {
    const mask = tf.tensor1d(m);
    const plain = (l: tf.Tensor) => {
      const nll = tf.neg(tf.sum(tf.mul(tf.logSoftmax(l), tf.cast(tf.oneHot(targets, V), "float32")), -1));
      return tf.div(tf.sum(tf.mul(nll, mask)), tf.maximum(tf.sum(mask), 1));
    };
    assertSameGradients(`cross-entropy, mask ${m}`, [logits], (l) => maskedCrossEntropy(l as tf.Tensor2D, targets, mask), plain);
    mask.dispose();
  }
  tf.dispose([logits, targets]);
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
});

test("the low-rank update y + (x A^T) B^T * scaling as one op: value and gradients of y, x, A and B equal autodiff of the plain formula", () => {
  const before = tf.memory().numTensors;
  // Rank 4 with in 12 and out 20: the thin-side kernel serves dA and dB on wasm; rank 3 with out 10 does not.
  for (const [N, I, O, R] of [[9, 12, 20, 4], [7, 6, 10, 3]] as const) {
    const y = tf.tensor2d(values(N * O, 11), [N, O]);
    const x = tf.tensor2d(values(N * I, 12), [N, I]);
    const a = tf.tensor2d(values(R * I, 13), [R, I]);
    const b = tf.tensor2d(values(O * R, 14), [O, R]);
    assertSameGradients(
      `low-rank update N ${N} I ${I} O ${O} R ${R}`,
      [y, x, a, b],
      (yi, xi, ai, bi) => lowRankUpdate(yi as tf.Tensor2D, xi as tf.Tensor2D, ai as tf.Tensor2D, bi as tf.Tensor2D, 1.5),
      (yi, xi, ai, bi) => tf.add(yi!, tf.mul(tf.matMul(tf.matMul(xi!, ai!, false, true), bi!, false, true), 1.5)),
    );
    tf.dispose([y, x, a, b]);
  }
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
});

test("a caller's seed gradient (tf.grads with dy) survives the ops that free the gradients they consume", () => {
  const x = tf.tensor2d(values(12, 9), [3, 4]);
  const w = tf.tensor1d([1, 2, 3, 4]);
  const dy = tf.tensor2d(values(12, 10), [3, 4]);
  const [dx] = tf.grads((a: tf.Tensor) => rmsNorm(a, w, 1e-5))([x], dy);
  assert.ok(!dy.isDisposed, "dy is the caller's");
  assert.equal(dy.dataSync().length, 12);
  tf.dispose([x, w, dy, dx!]);
});
