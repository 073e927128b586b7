// bench/quant: quantize and dequantize a 4096x4096 weight (NF4, blocksize 64, with and without
// double quantization) against a plain copy of the same float32 output buffer, in one run.
// Run: node --import tsx bench/quant.ts   (QLORA_LAB_BACKEND=cpu for the cpu backend)
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../lib/backend.js";
import { QuantizedLinear } from "../lib/model/quantized_linear.js";
import { quantize4bit } from "../lib/quant/quantized_tensor.js";
import { seededNormal } from "../lib/quant/random_normal.js";

const ROWS = 4096;
const COLS = 4096;
const N = ROWS * COLS;

/** Median of `repeats` runs after one warm-up (robust to other load on a shared machine). */
function time(fn: () => void, repeats: number): number {
  fn();
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    fn();
    runs.push((performance.now() - t0) / 1000);
  }
  runs.sort((a, b) => a - b);
  return runs[runs.length >> 1]!;
}

/** Median CPU time (user + system) of `repeats` runs: what one core spends, whatever else the machine runs. */
function cpuTime(fn: () => void, repeats: number): number {
  fn();
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = process.cpuUsage();
    fn();
    const d = process.cpuUsage(t0);
    runs.push((d.user + d.system) / 1e6);
  }
  runs.sort((a, b) => a - b);
  return runs[runs.length >> 1]!;
}

const report = await resolveBackend();
const x = seededNormal(N, 1);
const out = new Float32Array(N);
const copySeconds = time(() => out.set(x), 9);
const allocCopySeconds = time(() => new Float32Array(N).set(x), 7);
const uploadSeconds = time(() => tf.tensor(out, [ROWS, COLS]).dispose(), 7);
const mps = (s: number) => (N / s / 1e6).toFixed(0);
const row = (label: string, s: number, note: string) => console.log(`${label.padEnd(44)}${(s * 1e3).toFixed(2).padStart(8)} ms ${mps(s).padStart(6)} M values/s  ${note}`);
console.log(`bench/quant: ${ROWS}x${COLS} float32 (${(N * 4) / 2 ** 20} MiB), TF.js backend ${report.active}, node ${process.version}; median of 7-9 runs`);
row("copy (Float32Array.set, the peer)", copySeconds, `${((N * 8) / copySeconds / 1e9).toFixed(1)} GB/s read+write`);
row("new array + copy", allocCopySeconds, `ratio to copy ${(copySeconds / allocCopySeconds).toFixed(2)}`);
row("tf.tensor(float32 array) (dense upload)", uploadSeconds, `ratio to copy ${(copySeconds / uploadSeconds).toFixed(2)}`);
for (const doubleQuant of [false, true]) {
  const label = `nf4${doubleQuant ? "+DQ" : ""}`;
  const quantizeOnce = () => void quantize4bit(x, [ROWS, COLS], { quantType: "nf4", blocksize: 64, doubleQuant });
  const qs = time(quantizeOnce, 5);
  const qcpu = cpuTime(quantizeOnce, 5);
  const q = quantize4bit(x, [ROWS, COLS], { quantType: "nf4", blocksize: 64, doubleQuant });
  // What QuantizedLinear.apply does per forward (and again per backward): dequantize to a tensor.
  const dt = time(() => q.dequantize().dispose(), 9);
  const ds = time(() => void q.dequantizeToArray(out), 9);
  const dsAlloc = time(() => void q.dequantizeToArray(), 7);
  row(`${label} quantize`, qs, `(target >= 100 M/s on one core); CPU time ${(qcpu * 1e3).toFixed(1)} ms = ${mps(qcpu)} M values/s`);
  row(`${label} dequantize() -> tf.Tensor (QLoRA's path)`, dt, `ratio to copy ${(copySeconds / dt).toFixed(2)} (target >= 0.5)`);
  row(`${label} dequantizeToArray(reused buffer)`, ds, `ratio to copy ${(copySeconds / ds).toFixed(2)}`);
  row(`${label} dequantizeToArray() (new array)`, dsAlloc, `ratio to copy ${(copySeconds / dsAlloc).toFixed(2)}, to new array + copy ${(allocCopySeconds / dsAlloc).toFixed(2)}  (${q.bitsPerParam().toFixed(4)} bits/param)`);
}
// The whole layer: a 4096 -> 4096 QuantizedLinear on one token against the same matmul with a dense weight.
const q = quantize4bit(x, [ROWS, COLS], { quantType: "nf4", blocksize: 64, doubleQuant: true });
const layer = new QuantizedLinear(q, { name: "bench" });
const dense = tf.tensor2d(x, [ROWS, COLS]);
const token = tf.tensor2d(seededNormal(COLS, 2), [1, COLS]);
const run = (f: () => tf.Tensor) => () => {
  const y = tf.tidy(f);
  y.dataSync();
  y.dispose();
};
const layerSeconds = time(run(() => layer.apply(token)), 7);
const denseSeconds = time(run(() => tf.matMul(token, dense, false, true)), 7);
row("QuantizedLinear.apply, 1 token", layerSeconds, `dense-weight matmul ${(denseSeconds * 1e3).toFixed(2)} ms (ratio ${(denseSeconds / layerSeconds).toFixed(2)})`);
tf.dispose([dense, token]);
if (tf.memory().numTensors !== 0) console.log(`warning: ${tf.memory().numTensors} tensors leaked`);
