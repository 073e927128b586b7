// The fused 4-bit dot-product kernel (one x row against a 4-bit weight, no float32 weight written)
// against the reference: TF.js's matMul with the dequantized weight, for NF4 and FP4, blocks of 32, 64
// and 128, one and several rows; where it does not apply; and QuantizedLinear using it for one row.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { quantize4bit } from "../../../lib/quant/index.js";
import { canDotProduct, dotProduct4bit } from "../../../lib/quant/dequant_dot_simd.js";
import { QuantizedLinear } from "../../../lib/model/quantized_linear.js";

before(async () => {
  await resolveBackend({ env: { QLORA_LAB_BACKEND: "wasm" } });
});

function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31) - 1);
}

function maxRelative(actual: ArrayLike<number>, wanted: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < wanted.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - wanted[i]!));
    scale = Math.max(scale, Math.abs(wanted[i]!));
  }
  return diff / scale;
}

test("x @ deq(W)^T from the fused kernel equals the dequantized product (NF4, FP4; blocks 32, 64, 128; 1 and 3 rows)", () => {
  for (const quantType of ["nf4", "fp4"] as const) {
    for (const blocksize of [32, 64, 128]) {
      for (const m of [1, 3]) {
        const [N, K] = [70, 4 * blocksize]; // several chunks' worth of rows would need more; rows end on block edges
        const w = quantize4bit(values(N * K, blocksize + m), [N, K], { quantType, blocksize, doubleQuant: true });
        const weight = { packed: w.packed, absmax: w.scales(), code: w.code, blocksize, shape: [N, K] as const };
        assert.ok(canDotProduct(weight));
        const x = tf.tensor2d(values(m * K, 99), [m, K]);
        const fused = dotProduct4bit(x, weight);
        const reference = tf.tidy(() => tf.matMul(x, tf.tensor2d(w.dequantizeToArray(), [N, K]), false, true));
        assert.deepEqual(fused.shape, [m, N]);
        const error = maxRelative(fused.dataSync(), reference.dataSync());
        assert.ok(error < 1e-6, `${quantType} blocks ${blocksize}, ${m} rows: relative error ${error}`);
        tf.dispose([x, fused, reference]);
        w.dispose();
      }
    }
  }
});

test("a weight larger than one staging chunk (128 KiB of codes) is multiplied chunk by chunk", () => {
  const [N, K] = [300, 1024]; // 150 KiB of codes
  const w = quantize4bit(values(N * K, 5), [N, K], { quantType: "nf4", blocksize: 64, doubleQuant: false });
  const x = tf.tensor2d(values(K, 6), [1, K]);
  const fused = dotProduct4bit(x, { packed: w.packed, absmax: w.scales(), code: w.code, blocksize: 64, shape: [N, K] });
  const reference = tf.tidy(() => tf.matMul(x, tf.tensor2d(w.dequantizeToArray(), [N, K]), false, true));
  assert.ok(maxRelative(fused.dataSync(), reference.dataSync()) < 1e-6);
  tf.dispose([x, fused, reference]);
  w.dispose();
});

test("the kernel does not apply where blocks cross rows or runs of 16 bytes", () => {
  const code = new Float32Array(16);
  assert.equal(canDotProduct({ packed: new Uint8Array(96 * 48), absmax: new Float32Array(96 * 96 / 64), code, blocksize: 64, shape: [96, 96] }), false); // 96 % 64
  assert.equal(canDotProduct({ packed: new Uint8Array(64), absmax: new Float32Array(8), code, blocksize: 16, shape: [2, 64] }), false); // 8-byte blocks
});

test("QuantizedLinear gives the same rows whether it multiplies one row (fused) or many (dequantize + product)", () => {
  const [N, K] = [48, 256];
  const layer = new QuantizedLinear(quantize4bit(values(N * K, 11), [N, K], { quantType: "nf4", blocksize: 64, doubleQuant: true }), { name: "probe" });
  const x = tf.tensor2d(values(4 * K, 12), [4, K]);
  const all = layer.apply(x);
  const one = tf.tidy(() => layer.apply(x.slice([2, 0], [1, K])));
  const error = maxRelative(one.dataSync(), all.slice([2, 0], [1, N]).dataSync());
  assert.ok(error < 1e-6, `relative error ${error}`);
  tf.dispose([x, all, one]);
  layer.dispose();
});
