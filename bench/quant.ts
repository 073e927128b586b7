// bench/quant: quantize and dequantize a 4096x4096 weight (NF4, blocksize 64, with and without
// double quantization) against a plain copy of the same float32 output buffer, in one run.
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../lib/backend.js";
import { quantize4bit } from "../lib/quant/quantized_tensor.js";
import { seededNormal } from "../lib/quant/random_normal.js";

const ROWS = 4096;
const COLS = 4096;
const N = ROWS * COLS;

/** Fastest of `repeats` runs after one warm-up (the least disturbed by other load on the machine). */
function time(fn: () => void, repeats: number): number {
  fn();
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    fn();
    runs.push((performance.now() - t0) / 1000);
  }
  return Math.min(...runs);
}

const report = await resolveBackend();
const x = seededNormal(N, 1);
const out = new Float32Array(N);
const copySeconds = time(() => out.set(x), 7);
const allocCopySeconds = time(() => new Float32Array(N).set(x), 7);
const mps = (s: number) => (N / s / 1e6).toFixed(0);
console.log(`bench/quant: ${ROWS}x${COLS} float32 (${(N * 4) / 2 ** 20} MiB), TF.js backend ${report.active}, node ${process.version}`);
console.log(`copy (Float32Array.set)          ${(copySeconds * 1e3).toFixed(2).padStart(8)} ms  ${mps(copySeconds).padStart(6)} M values/s  ${((N * 8) / copySeconds / 1e9).toFixed(1)} GB/s read+write`);
console.log(`new array + copy                  ${(allocCopySeconds * 1e3).toFixed(2).padStart(8)} ms  ${mps(allocCopySeconds).padStart(6)} M values/s  (the peer of a dequantize that returns a new array)`);
for (const doubleQuant of [false, true]) {
  const label = `nf4${doubleQuant ? "+DQ" : "   "}`;
  const qs = time(() => void quantize4bit(x, [ROWS, COLS], { quantType: "nf4", blocksize: 64, doubleQuant }), 3);
  const q = quantize4bit(x, [ROWS, COLS], { quantType: "nf4", blocksize: 64, doubleQuant });
  const ds = time(() => void q.dequantizeToArray(out), 7);
  const dsAlloc = time(() => void q.dequantizeToArray(), 7);
  const dt = time(() => q.dequantize().dispose(), 5);
  console.log(`${label} quantize                   ${(qs * 1e3).toFixed(2).padStart(8)} ms  ${mps(qs).padStart(6)} M values/s  (target >= 100)`);
  console.log(`${label} dequantize into buffer (JS)${(ds * 1e3).toFixed(2).padStart(8)} ms  ${mps(ds).padStart(6)} M values/s  ratio to copy ${(copySeconds / ds).toFixed(2)} (target >= 0.5)`);
  console.log(`${label} dequantize new array (SIMD)${(dsAlloc * 1e3).toFixed(2).padStart(8)} ms  ${mps(dsAlloc).padStart(6)} M values/s  ratio to copy ${(copySeconds / dsAlloc).toFixed(2)}, to new array + copy ${(allocCopySeconds / dsAlloc).toFixed(2)}`);
  console.log(`${label} dequantize to tf.Tensor    ${(dt * 1e3).toFixed(2).padStart(8)} ms  ${mps(dt).padStart(6)} M values/s  ratio to copy ${(copySeconds / dt).toFixed(2)}  (${q.bitsPerParam().toFixed(4)} bits/param)`);
}
if (tf.memory().numTensors !== 0) console.log(`warning: ${tf.memory().numTensors} tensors leaked`);
