// QuantizedTensor: bitsandbytes' published error figures on seeded randn, double-quantization cost,
// resident bits per value, invariants (per-block bound, idempotence), bad inputs and tensor leaks.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { TensorError, InvalidArgumentError } from "../../../lib/errors.js";
import { codeBook } from "../../../lib/quant/codebooks.js";
import { quantize4bit, quantized4bitBytes } from "../../../lib/quant/quantized_tensor.js";
import { dequantizeBlockwise4bit } from "../../../lib/quant/blockwise_4bit.js";
import { dequantizeToWasmTensor } from "../../../lib/quant/dequant_backend.js";
import { seededNormal } from "../../../lib/quant/random_normal.js";

const X = seededNormal(1024 * 1024, 42);

function meanAbsError(x: Float32Array, y: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.abs(x[i]! - y[i]!);
  return sum / x.length;
}

test("seeded N(0,1) 1024x1024, blocksize 64: mean |error| within 1 % of bitsandbytes (NF4 0.072798, FP4 0.096543); DQ adds <= 0.2 %", () => {
  for (const [type, published] of [["nf4", 0.072798], ["fp4", 0.096543]] as const) {
    const plain = meanAbsError(X, quantize4bit(X, [1024, 1024], { quantType: type }).dequantizeToArray());
    assert.ok(Math.abs(plain / published - 1) < 0.01, `${type}: ${plain} vs ${published}`);
    const dq = meanAbsError(X, quantize4bit(X, [1024, 1024], { quantType: type, doubleQuant: true }).dequantizeToArray());
    assert.ok(dq >= plain && dq / plain - 1 <= 0.002, `${type} DQ: ${dq} vs ${plain}`);
  }
});

test("resident bytes, worked by hand for 2048 x 2048 in blocks of 64: 4.5 bits/param, and 4.127 with DQ (QLoRA section 3: 8/64 + 32/(64*256))", () => {
  const big = new Float32Array(2048 * 2048).fill(0.25);
  const plain = quantize4bit(big, [2048, 2048]);
  const dq = quantize4bit(big, [2048, 2048], { doubleQuant: true });
  // 4,194,304 values: 2,097,152 packed bytes; 65,536 blocks. Plain: a float32 absmax per block and the
  // 16-entry code book, 262,144 + 64. DQ: a byte per block, 256 nested float32 absmax, the 256-entry
  // float32 nested map and the offset, 65,536 + 1,024 + 1,024 + 4, and the code book.
  assert.deepEqual(plain.memoryItems().map((i) => [i.category, i.bytes, i.onBackend]), [["base_packed", 2097152, false], ["quant_constants", 262208, false]]);
  assert.deepEqual(dq.memoryItems().map((i) => [i.category, i.bytes, i.onBackend]), [["base_packed", 2097152, false], ["quant_constants", 67652, false]]);
  assert.equal(plain.bitsPerParam(), (8 * (2097152 + 262208)) / 4194304); // 4.5001
  assert.equal(dq.bitsPerParam(), (8 * (2097152 + 67652)) / 4194304); // 4.1290: 4 + 0.127 + the maps
  assert.ok(Math.abs(dq.bitsPerParam() - 4.127) < 0.003);
  // The planner's formula gives the same bytes for any size, including a tail block and an odd count.
  for (const [n, blocksize, doubleQuant] of [[2048 * 2048, 64, false], [2048 * 2048, 64, true], [1001, 128, true], [77, 64, false]] as const) {
    const q = quantize4bit(new Float32Array(n).fill(0.5), [n], { blocksize, doubleQuant });
    const [packed, constants] = q.memoryItems().map((i) => i.bytes);
    assert.deepEqual(quantized4bitBytes(n, { blocksize, doubleQuant }), { packed, constants }, `n ${n}, blocksize ${blocksize}, DQ ${doubleQuant}`);
  }
});

test("invariant: every error is at most half the widest code gap times the block's absmax", () => {
  const x = X.subarray(0, 64 * 256);
  for (const type of ["nf4", "fp4", "int4"] as const) {
    const code = [...codeBook(type).values].sort((a, b) => a - b);
    let widest = 0;
    for (let k = 1; k < code.length; k++) widest = Math.max(widest, code[k]! - code[k - 1]!);
    const q = quantize4bit(x, [x.length], { quantType: type });
    const y = q.dequantizeToArray();
    const scales = q.scales();
    for (let i = 0; i < x.length; i++) {
      const bound = (widest / 2) * scales[Math.floor(i / 64)]! * (1 + 1e-6);
      assert.ok(Math.abs(x[i]! - y[i]!) <= bound, `${type} element ${i}`);
    }
  }
});

test("invariant: quantize(dequantize(q)) reproduces q exactly (packed bytes and scales)", () => {
  const x = X.subarray(0, 64 * 100 + 10);
  for (const type of ["nf4", "fp4", "int4"] as const) {
    for (const doubleQuant of [false, true]) {
      const q = quantize4bit(x, [x.length], { quantType: type, doubleQuant });
      const again = quantize4bit(q.dequantizeToArray(), [x.length], { quantType: type });
      assert.deepEqual(again.packed, q.packed, `${type} dq=${doubleQuant}`);
      assert.deepEqual(again.scales(), q.scales());
    }
  }
});

test("bad inputs name the tensor and what is wrong", () => {
  const x = new Float32Array(256).fill(1);
  x[130] = NaN;
  assert.throws(() => quantize4bit(x, [256], { name: "w" }), (e: Error) => e instanceof TensorError && /"w"/.test(e.message) && /element 130 \(block 2 /.test(e.message));
  x[130] = -Infinity;
  assert.throws(() => quantize4bit(x, [256], { name: "w" }), /-Infinity at element 130 \(block 2/);
  assert.throws(() => quantize4bit(new Float32Array(64), [64], { blocksize: 48 }), (e: Error) => e instanceof InvalidArgumentError && /blocksize/.test(e.message));
  assert.throws(() => quantize4bit(new Float32Array(64), [64], { blocksize: 8192 }), /blocksize/);
  assert.throws(() => quantize4bit(new Int32Array(64) as unknown as Float32Array, [64], { name: "ids" }), (e: Error) => e instanceof TensorError && /Float32Array for "ids"/.test(e.message) && /Int32Array/.test(e.message));
  assert.throws(() => quantize4bit(new Float32Array(0), [0, 4], { name: "empty" }), /non-empty tensor for "empty"/);
  assert.throws(() => quantize4bit(new Float32Array(6), [2, 4]), /8 values/);
  assert.throws(() => quantize4bit(new Float32Array(6), [6], { zeroBlockByte: 300 }), /zeroBlockByte/);
});

test("dequantize() gives a float32 tensor of the shape on the backend, without leaks; dispose() blocks later use", async () => {
  await resolveBackend();
  const before = tf.memory().numTensors;
  const x = X.subarray(0, 96 * 64);
  const q = quantize4bit(x, [96, 64], { doubleQuant: true, name: "layer" });
  const t = q.dequantize();
  assert.deepEqual(t.shape, [96, 64]);
  assert.equal(t.dtype, "float32");
  assert.deepEqual(t.dataSync(), q.dequantizeToArray());
  t.dispose();
  assert.equal(tf.memory().numTensors, before);
  assert.match(String(q), /nf4\+DQ, \[96, 64\], blocksize 64/);
  q.dispose();
  assert.throws(() => q.dequantizeToArray(), /disposed/);
  assert.deepEqual(q.memoryItems(), []);
});

test("dequantize() writes the wasm heap in place and matches dequantizeToArray bit for bit on wasm and cpu, inside tidy, without leaking heap memory", async () => {
  await resolveBackend();
  const initial = tf.getBackend();
  await import("@tensorflow/tfjs-backend-cpu");
  await import("@tensorflow/tfjs-backend-wasm");
  try {
    for (const backend of ["wasm", "cpu"]) {
      assert.ok(await tf.setBackend(backend), backend);
      for (const [shape, blocksize, doubleQuant] of [[[64, 96], 64, true], [[33, 7], 32, false], [[3, 4096 + 5], 4096, false]] as const) {
        const n = shape[0] * shape[1];
        const q = quantize4bit(seededNormal(n, n), [...shape], { blocksize, doubleQuant });
        const want = dequantizeBlockwise4bit(q.packed, q.scales(), q.code, blocksize, n);
        const before = tf.memory();
        const ids = tf.backend().numDataIds();
        const got = tf.tidy(() => q.dequantize().dataSync() as Float32Array);
        assert.equal(Buffer.compare(Buffer.from(got.buffer, got.byteOffset, n * 4), Buffer.from(want.buffer)), 0, `${backend} [${shape}] blocksize ${blocksize}`);
        const after = tf.memory();
        assert.equal(after.numTensors, before.numTensors, `${backend}: no tensors left`);
        assert.equal(after.numBytes, before.numBytes, `${backend}: no bytes left`);
        assert.equal(tf.backend().numDataIds(), ids, `${backend}: the staging buffer is freed`);
      }
      // On wasm the in-place path is the one taken (a silent fallback would cost a host array and a copy).
      const probe = quantize4bit(seededNormal(64, 3), [64]);
      const inPlace = dequantizeToWasmTensor(probe.packed, probe.scales(), probe.code, 64, [64]);
      assert.equal(inPlace !== null, backend === "wasm", `${backend}: in-place path ${inPlace ? "taken" : "not taken"}`);
      inPlace?.dispose();
      // Two live results do not share memory.
      const q = quantize4bit(seededNormal(4096, 1), [64, 64]);
      const [a, b] = [q.dequantize(), q.dequantize()];
      const aValues = a.dataSync().slice();
      b.dispose();
      const c = tf.tidy(() => tf.mul(quantize4bit(seededNormal(4096, 2), [64, 64]).dequantize(), 1));
      assert.deepEqual(a.dataSync(), aValues, `${backend}: a later dequantize leaves an earlier result alone`);
      tf.dispose([a, c]);
    }
  } finally {
    await tf.setBackend(initial);
  }
});
