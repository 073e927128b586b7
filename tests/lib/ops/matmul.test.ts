import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { matMulNN } from "../../../lib/ops/index.js";
import { matMulFrozen, matMulWeight } from "../../../lib/ops/matmul.js";
import { assertClose } from "../model/helpers.js";

before(async () => {
  await resolveBackend();
});

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1);
}

/** op(A) op(B) in float64 on the host for row-major [G, r, c] operands. */
function reference(a: Float32Array, b: Float32Array, G: number, m: number, k: number, n: number, tA: boolean, tB: boolean): Float64Array {
  const out = new Float64Array(G * m * n);
  for (let g = 0; g < G; g++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) {
          const av = tA ? a[g * k * m + p * m + i]! : a[g * m * k + i * k + p]!;
          const bv = tB ? b[g * n * k + j * k + p]! : b[g * k * n + p * n + j]!;
          sum += av * bv;
        }
        out[g * m * n + i * n + j] = sum;
      }
  return out;
}

// [G, m, k] x [G, k, n] with m * k * n above the size at which wasm runs each matrix as its own 2-D GEMM,
// rank-2 cases, and thin ones (a side of at most 16, as a LoRA rank: wasm's SIMD kernel for a^T b and
// the weight gradients dy^T x); every transpose combination; values and both gradients against float64 host sums.
const CASES = [
  { G: 3, m: 40, k: 24, n: 36 },
  { G: 1, m: 33, k: 17, n: 29 },
  { G: 1, m: 8, k: 64, n: 36 },
  { G: 1, m: 40, k: 64, n: 12 },
];
for (const { G, m, k, n } of CASES) {
  for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    test(`matMulNN G=${G} [${m}x${k}]x[${k}x${n}] transposeA=${tA} transposeB=${tB}: product and gradients`, () => {
      const before = tf.memory().numTensors;
      const aShape = tA ? [k, m] : [m, k];
      const bShape = tB ? [n, k] : [k, n];
      const rank3 = G > 1;
      const aVals = values(G * m * k, 1 + m);
      const bVals = values(G * k * n, 7 + n);
      const a = tf.tensor(aVals, rank3 ? [G, ...aShape] : aShape);
      const b = tf.tensor(bVals, rank3 ? [G, ...bShape] : bShape);
      const y = matMulNN(a as tf.Tensor3D, b as tf.Tensor3D, tA, tB);
      assert.deepEqual(y.shape, rank3 ? [G, m, n] : [m, n]);
      assertClose(y.dataSync(), reference(aVals, bVals, G, m, k, n, tA, tB), 1e-4, "product");
      // d/dA sum(y * w) = w op(B)^T (transposed back for op = T); checked against the same host reference.
      const wVals = values(G * m * n, 99);
      const w = tf.tensor(wVals, y.shape);
      const [da, db] = tf.grads((x: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(matMulNN(x as tf.Tensor3D, z as tf.Tensor3D, tA, tB), w)))([a, b]);
      // dA for op(A) = A: [m, n] x [n, k] = w op(B)^T; for op(A) = A^T: op(B) w^T, i.e. [k, n] x [n, m].
      const wantDa = tA ? reference(bVals, wVals, G, k, n, m, tB, true) : reference(wVals, bVals, G, m, n, k, false, !tB);
      const wantDb = tB ? reference(wVals, aVals, G, n, m, k, true, tA) : reference(aVals, wVals, G, k, m, n, !tA, false);
      assertClose(da!.dataSync(), wantDa, 1e-4, "dA");
      assertClose(db!.dataSync(), wantDb, 1e-4, "dB");
      tf.dispose([a, b, y, w, da!, db!]);
      assert.equal(tf.memory().numTensors, before, "no tensors leak");
    });
  }
}

for (const tW of [false, true]) {
  test(`matMulFrozen [33x17]x[17x29] transposeW=${tW}: product and the input's gradient; the weight is not taken as an input`, () => {
    const before = tf.memory().numTensors;
    const [m, k, n] = [33, 17, 29];
    const xVals = values(m * k, 5);
    const wVals = values(k * n, 6);
    const x = tf.tensor2d(xVals, [m, k]);
    const w = tf.tensor2d(wVals, tW ? [n, k] : [k, n]);
    const y = matMulFrozen(x, w, tW);
    assertClose(y.dataSync(), reference(xVals, wVals, 1, m, k, n, false, tW), 1e-4, "product");
    const probe = values(m * n, 99);
    const p = tf.tensor2d(probe, [m, n]);
    const [dx] = tf.grads((z: tf.Tensor) => tf.sum(tf.mul(matMulFrozen(z as tf.Tensor2D, w, tW), p)))([x]);
    assertClose(dx!.dataSync(), reference(probe, wVals, 1, m, n, k, false, !tW), 1e-4, "dx");
    tf.dispose([x, w, y, p, dx!]);
    assert.equal(tf.memory().numTensors, before, "no tensors leak");
  });
}

test("matMulWeight: a trainable variable gets its gradient (x w^T); a frozen variable or a plain tensor gets none, and x's gradient is the same", () => {
  const [m, k, n] = [6, 5, 4];
  const x = tf.variable(tf.tensor2d(values(m * k, 1), [m, k]));
  const w = tf.variable(tf.tensor2d(values(n * k, 2), [n, k]));
  const probe = tf.tensor2d(values(m * n, 3), [m, n]);
  const loss = () => tf.sum(tf.mul(matMulWeight(x, w), probe)) as tf.Scalar;
  const trained = tf.variableGrads(loss, [x, w]);
  assertClose(trained.grads[w.name]!.dataSync(), reference(values(m * n, 3), values(m * k, 1), 1, n, m, k, true, false), 1e-5, "dW");
  w.trainable = false;
  const frozen = tf.variableGrads(loss, [x]);
  assertClose(frozen.grads[x.name]!.dataSync(), trained.grads[x.name]!.dataSync(), 0, "dx with the weight frozen");
  tf.dispose([x, w, probe, trained.value, frozen.value, ...Object.values(trained.grads), ...Object.values(frozen.grads)]);
});
