// The native engine's products against the backend's own kernels (the reference): forward and both
// gradients of matMulNN, every transpose, 2-D and batched, odd sizes; what resolveBackend reports; and
// QLORA_LAB_PRODUCTS=tfjs, which sends every product back to TF.js's kernels.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import * as tf from "@tensorflow/tfjs-core";
import { formatBackendReport, resolveBackend } from "../../../lib/backend.js";
import { InvalidArgumentError } from "../../../lib/errors.js";
import { matMulNN, productNN } from "../../../lib/ops/matmul.js";
import { loadNativeEngine } from "../../../lib/ops/native/engine.js";
import { NATIVE_MIN_WORK, configureProducts, nativeBnb4Product } from "../../../lib/ops/native_product.js";
import { quantize4bit } from "../../../lib/quant/index.js";

const load = loadNativeEngine(availableParallelism());
const noEngine = load.engine ? false : `the native engine is not here: ${load.reason}`;

before(async () => {
  await resolveBackend({ env: { QLORA_LAB_BACKEND: "wasm" } });
});
after(() => {
  configureProducts({});
});

/** Deterministic values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1);
}

/** max |actual - wanted| relative to max |wanted|. */
function assertRelative(actual: ArrayLike<number>, wanted: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, wanted.length, `${what}: lengths differ`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < wanted.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - wanted[i]!));
    scale = Math.max(scale, Math.abs(wanted[i]!));
  }
  assert.ok(diff <= tol * scale, `${what}: max |diff| ${diff} is more than ${tol} of max |value| ${scale}`);
}

/** matMulNN's product and both gradients (of sum(y * w)) on the engine `products` names. */
function productAndGradients(products: "native" | "tfjs", aVals: Float32Array, aShape: number[], bVals: Float32Array, bShape: number[], tA: boolean, tB: boolean): Float32Array[] {
  configureProducts({ QLORA_LAB_PRODUCTS: products });
  return tf.tidy(() => {
    const a = tf.tensor(aVals, aShape) as unknown as tf.Tensor3D;
    const b = tf.tensor(bVals, bShape) as unknown as tf.Tensor3D;
    const y = matMulNN(a, b, tA, tB);
    const w = tf.tensor(values(y.size, 99), y.shape);
    const [da, db] = tf.grads((x: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(matMulNN(x as tf.Tensor3D, z as tf.Tensor3D, tA, tB), w)))([a, b]);
    return [y, da!, db!].map((t) => t.dataSync() as Float32Array);
  });
}

// [G (0: 2-D), m, k, n]: odd sizes, a thin LoRA-like side, a batch; every one above NATIVE_MIN_WORK.
const SHAPES: [number, number, number, number][] = [
  [0, 37, 53, 29],
  [0, 128, 8, 96],
  [0, 8, 300, 64],
  [0, 65, 127, 33],
  [3, 33, 17, 41],
  [5, 64, 32, 48],
];

for (const [G, m, k, n] of SHAPES) {
  for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
    const name = `${G ? `${G} x ` : ""}[${m}x${k}]x[${k}x${n}] tA=${tA} tB=${tB}`;
    test(`native product ${name}: product, dA and dB match the backend's kernels within 1e-5`, { skip: noEngine }, () => {
      assert.ok(Math.max(G, 1) * m * k * n >= NATIVE_MIN_WORK, "the shape is large enough for the engine");
      const batch = G ? [G] : [];
      const aShape = [...batch, ...(tA ? [k, m] : [m, k])];
      const bShape = [...batch, ...(tB ? [n, k] : [k, n])];
      const aVals = values(Math.max(G, 1) * m * k, 1);
      const bVals = values(Math.max(G, 1) * k * n, 2);
      const before = tf.memory().numTensors;
      const wanted = productAndGradients("tfjs", aVals, aShape, bVals, bShape, tA, tB);
      const got = productAndGradients("native", aVals, aShape, bVals, bShape, tA, tB);
      ["product", "dA", "dB"].forEach((what, i) => assertRelative(got[i]!, wanted[i]!, 1e-5, what));
      assert.equal(tf.memory().numTensors, before, "no tensors leak");
    });
  }
}

/** The TF.js kernels one productNN call runs. */
async function kernelsOf(a: tf.Tensor2D, b: tf.Tensor2D): Promise<string[]> {
  const profile = await tf.profile(() => productNN(a, b, false, true));
  return profile.kernels.map((k) => k.name);
}

test("the native engine runs a product without a TF.js kernel (tf.profile sees its output as an entry of its own); QLORA_LAB_PRODUCTS=tfjs sends it back to BatchMatMul", { skip: noEngine }, async () => {
  const a = tf.tensor2d(values(64 * 96, 3), [64, 96]);
  const b = tf.tensor2d(values(80 * 96, 4), [80, 96]);
  configureProducts({ QLORA_LAB_PRODUCTS: "native" });
  assert.deepEqual(await kernelsOf(a, b), ["nativeProduct"]);
  const report = configureProducts({ QLORA_LAB_PRODUCTS: "tfjs" });
  assert.deepEqual(report, { engine: "tfjs", threads: 1, reason: "forced by QLORA_LAB_PRODUCTS=tfjs" });
  assert.ok((await kernelsOf(a, b)).includes("BatchMatMul"));
  configureProducts({});
  const small = [tf.tensor2d(values(16 * 16, 5), [16, 16]), tf.tensor2d(values(16 * 16, 6), [16, 16])] as const;
  assert.ok((await kernelsOf(...small)).includes("BatchMatMul"), "a product below NATIVE_MIN_WORK stays on TF.js");
  tf.dispose([a, b, ...small]);
});

test("on the cpu backend the native engine reads and writes host arrays, with the same results", { skip: noEngine }, async () => {
  await resolveBackend({ env: { QLORA_LAB_BACKEND: "cpu" } });
  try {
    const [aVals, bVals] = [values(3 * 40 * 30, 7), values(3 * 30 * 50, 8)];
    const wanted = productAndGradients("tfjs", aVals, [3, 40, 30], bVals, [3, 50, 30], false, true);
    const got = productAndGradients("native", aVals, [3, 40, 30], bVals, [3, 50, 30], false, true);
    ["product", "dA", "dB"].forEach((what, i) => assertRelative(got[i]!, wanted[i]!, 1e-5, what));
  } finally {
    await resolveBackend({ env: { QLORA_LAB_BACKEND: "wasm" } });
  }
});

test("resolveBackend reports the products' engine and its threads (QLORA_LAB_THREADS), or why TF.js does them", async () => {
  const report = await resolveBackend({ env: { QLORA_LAB_BACKEND: "wasm" } });
  if (load.engine) {
    assert.deepEqual(report.products, { engine: `onnxruntime-node ${load.engine.version}`, threads: availableParallelism(), reason: "loaded" });
    assert.match(formatBackendReport(report), new RegExp(`^wasm .*; products on onnxruntime-node ${load.engine.version}, ${availableParallelism()} threads?$`));
    const one = await resolveBackend({ env: { QLORA_LAB_BACKEND: "wasm", QLORA_LAB_THREADS: "1" } });
    assert.equal(one.products.threads, 1);
    assert.match(formatBackendReport(one), /products on onnxruntime-node \S+, 1 thread$/);
  } else {
    assert.deepEqual(report.products, { engine: "tfjs", threads: 1, reason: load.reason });
    assert.match(formatBackendReport(report), /products on the backend's own kernels \(onnxruntime-node/);
  }
  const forced = await resolveBackend({ env: { QLORA_LAB_BACKEND: "wasm", QLORA_LAB_PRODUCTS: "tfjs" } });
  assert.match(formatBackendReport(forced), /products on the backend's own kernels \(forced by QLORA_LAB_PRODUCTS=tfjs\)/);
  await resolveBackend({ env: { QLORA_LAB_BACKEND: "wasm" } });
});

test("a wrong QLORA_LAB_PRODUCTS or QLORA_LAB_THREADS names what is allowed", () => {
  assert.throws(() => configureProducts({ QLORA_LAB_PRODUCTS: "gpu" }), (error: Error) => {
    assert.ok(error instanceof InvalidArgumentError);
    assert.match(error.message, /expected QLORA_LAB_PRODUCTS to be one of native, tfjs, got "gpu"/);
    return true;
  });
  assert.throws(() => configureProducts({ QLORA_LAB_THREADS: "0" }), /expected QLORA_LAB_THREADS to be a positive integer, got "0"/);
  assert.throws(() => configureProducts({ QLORA_LAB_THREADS: "two" }), /expected QLORA_LAB_THREADS to be a positive integer, got "two"/);
  configureProducts({});
});

test("onnxruntime's MatMulBnb4, a second reading of bitsandbytes' 4-bit layout, multiplies our packed NF4 and FP4 bytes as our dequantizer does", { skip: noEngine }, () => {
  configureProducts({ QLORA_LAB_PRODUCTS: "native" });
  for (const quantType of ["nf4", "fp4"] as const) {
    const [N, K, m] = [96, 130, 5]; // K not a multiple of the block: blocks run across rows, as bitsandbytes' do
    const w = quantize4bit(values(N * K, 7), [N, K], { quantType, doubleQuant: true, blocksize: 64 });
    const x = tf.tensor2d(values(m * K, 8), [m, K]);
    const fused = nativeBnb4Product(x, { codes: w.packed, absmax: w.scales(), K, N, blocksize: 64, quantType })!;
    const reference = tf.tidy(() => tf.matMul(x, tf.tensor2d(w.dequantizeToArray(), [N, K]), false, true));
    assertRelative(fused.dataSync(), reference.dataSync(), 1e-6, `${quantType} x @ deq(W)^T`);
    tf.dispose([x, fused, reference]);
    w.dispose();
  }
});
