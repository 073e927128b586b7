// Matrix-product benchmark: productNN (the library's products, matmul.ts) on TF.js's own kernels against
// the native engine, shape by shape, for the products of a training step of bench/step.ts's model (N
// 1,024 tokens, C 256, F 688, r 8, V 512, attention [B*K 32, G*T 256, D 32]) and of generation (N 1).
// Usage: node --import tsx bench/products.ts [--threads N] [--min-ms MS]
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../lib/backend.js";
import { productNN } from "../lib/ops/matmul.js";
import { configureProducts, nativeBnb4Product } from "../lib/ops/native_product.js";
import { quantize4bit } from "../lib/quant/index.js";
import { dotProduct4bit } from "../lib/quant/dequant_dot_simd.js";

const { values } = parseArgs({ options: { threads: { type: "string" }, "min-ms": { type: "string", default: "200" } } });
await resolveBackend();
const threadEnv = values.threads ? { QLORA_LAB_THREADS: values.threads } : {};

/** [label, G (0: 2-D), m, k, n, transposeA, transposeB] */
const SHAPES: [string, number, number, number, number, boolean, boolean][] = [
  ["q_proj forward x W^T", 0, 1024, 256, 256, false, true],
  ["mlp forward x W^T", 0, 1024, 256, 688, false, true],
  ["mlp down x W^T", 0, 1024, 688, 256, false, true],
  ["dx = dy W", 0, 1024, 688, 256, false, false],
  ["dW = dy^T x", 0, 688, 1024, 256, true, false],
  ["lm_head x E^T", 0, 1024, 256, 512, false, true],
  ["LoRA x A^T (r 8)", 0, 1024, 256, 8, false, true],
  ["LoRA down B^T (r 8)", 0, 1024, 8, 256, false, true],
  ["LoRA dA = dd^T x", 0, 8, 1024, 256, true, false],
  ["scores Q K^T", 32, 256, 32, 128, false, true],
  ["P V", 32, 256, 128, 32, false, false],
  ["dV = P^T dO", 32, 128, 256, 32, true, false],
  ["generate x W^T (N 1)", 0, 1, 256, 256, false, true],
  ["generate mlp (N 1)", 0, 1, 256, 688, false, true],
  ["small 64^3", 0, 64, 64, 64, false, true],
  ["small 32x256x256", 0, 32, 256, 256, false, true],
];

function operand(G: number, rows: number, cols: number, seed: number): tf.Tensor {
  const data = Float32Array.from({ length: Math.max(G, 1) * rows * cols }, (_, i) => Math.sin(i * 0.37 + seed));
  return G ? tf.tensor3d(data, [G, rows, cols]) : tf.tensor2d(data, [rows, cols]);
}

function msPerCall(run: () => tf.Tensor): number {
  for (let i = 0; i < 3; i++) run().dispose();
  let calls = 0;
  const started = performance.now();
  while (performance.now() - started < Number(values["min-ms"])) {
    run().dispose();
    calls++;
  }
  return (performance.now() - started) / calls;
}

let native = "";
console.log(`backend ${tf.getBackend()}; products: ${"label".padEnd(24)} shape                      tfjs ms   native ms   speed-up`);
for (const [label, G, m, k, n, tA, tB] of SHAPES) {
  const a = operand(G, tA ? k : m, tA ? m : k, 1);
  const b = operand(G, tB ? n : k, tB ? k : n, 2);
  configureProducts({ QLORA_LAB_PRODUCTS: "tfjs" });
  const tfjs = msPerCall(() => productNN(a, b, tA, tB));
  native = configureProducts({ ...threadEnv, QLORA_LAB_PRODUCTS: "native" }).engine;
  const onNative = msPerCall(() => productNN(a, b, tA, tB));
  const shape = `${G ? `${G}x` : ""}[${m}x${k}]x[${k}x${n}]${tA ? " tA" : ""}${tB ? " tB" : ""}`;
  console.log(`  ${label.padEnd(24)} ${shape.padEnd(28)} ${tfjs.toFixed(3).padStart(8)} ${onNative.toFixed(3).padStart(10)} ${(tfjs / onNative).toFixed(2).padStart(9)}`);
  tf.dispose([a, b]);
}
console.log(`native: ${native}, ${configureProducts({ ...threadEnv }).threads} thread(s)`);

// 4-bit products x @ deq(W)^T: the library's path (dequantize in wasm, then the native GEMM) against
// onnxruntime's MatMulBnb4 (dequantizes on its threads, then the same GEMM) and the fused dequantize-dot
// kernel (lib/quant/dequant_dot_simd.ts, one thread, one x row at a time), NF4 blocks of 64.
/** [label, m, K (in), N (out)] */
const BNB4_SHAPES: [string, number, number, number][] = [
  ["decode mlp (N 1, smollm2)", 1, 576, 1536],
  ["train mlp (smollm2, 1024)", 1024, 576, 1536],
  ["tinyllama mlp (128)", 128, 2048, 5632],
  ["decode mlp (N 1, tinyllama)", 1, 2048, 5632],
];
configureProducts({ ...threadEnv, QLORA_LAB_PRODUCTS: "native" });
console.log(`4-bit products: ${"label".padEnd(28)} dequantize+GEMM ms   MatMulBnb4 ms (speed-up)   fused dot ms (speed-up)   max |diff|`);
for (const [label, m, K, N] of BNB4_SHAPES) {
  const w = quantize4bit(Float32Array.from({ length: N * K }, (_, i) => 0.02 * Math.sin(i * 0.61)), [N, K], { quantType: "nf4", doubleQuant: true, blocksize: 64 });
  const x = operand(0, m, K, 3) as tf.Tensor2D;
  const packed = { codes: w.packed, absmax: w.scales(), K, N, blocksize: 64, quantType: "nf4" as const };
  const ours = msPerCall(() => tf.tidy(() => productNN(x, w.dequantize() as tf.Tensor2D, false, true)));
  const bnb4 = msPerCall(() => nativeBnb4Product(x, packed)!);
  const dotWeight = { packed: w.packed, absmax: w.scales(), code: w.code, blocksize: 64, shape: [N, K] as const };
  const dot = m <= 16 ? msPerCall(() => dotProduct4bit(x, dotWeight)) : NaN;
  const a = tf.tidy(() => productNN(x, w.dequantize() as tf.Tensor2D, false, true));
  const b = nativeBnb4Product(x, packed)!;
  const c = dotProduct4bit(x, dotWeight);
  const diff = tf.tidy(() => Math.max(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!, tf.max(tf.abs(tf.sub(a, c))).dataSync()[0]!));
  const cell = (ms: number) => (Number.isNaN(ms) ? "-" : `${ms.toFixed(3)} (${(ours / ms).toFixed(2)})`);
  console.log(`  ${label.padEnd(42)} ${ours.toFixed(3).padStart(10)} ${cell(bnb4).padStart(22)} ${cell(dot).padStart(24)} ${diff.toExponential(1).padStart(12)}`);
  tf.dispose([a, b, c, x]);
  w.dispose();
}
