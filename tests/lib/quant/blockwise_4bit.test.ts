// 4-bit quantization against bitsandbytes' own bytes (bnb-4bit-vectors.json): packed codes, absmax,
// dequantized values, the tie rule, the tail block and the zero block.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CODEBOOKS, codeBook, identifyCodeBook } from "../../../lib/quant/codebooks.js";
import { quantize4bit } from "../../../lib/quant/quantized_tensor.js";

const vectors = JSON.parse(readFileSync(new URL("../../../../shared/reference/bnb-4bit-vectors.json", import.meta.url), "utf8"));
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** The deterministic input of the vectors: x_i = (((i*37) % 128) - 64)/64 * (1 + floor(i/64)). */
function detInput(): Float32Array {
  assert.match(vectors.det_input_formula, /\(\(\(i\*37\) % 128\) - 64\)\/64 \* \(1 \+ floor\(i\/64\)\), i=0\.\.255/);
  return Float32Array.from({ length: 256 }, (_, i) => ((((i * 37) % 128) - 64) / 64) * (1 + Math.floor(i / 64)));
}

test("code books are bitsandbytes' tables as float32", () => {
  for (const type of ["nf4", "fp4"] as const) {
    const want = new Float32Array(vectors[type]);
    const got = codeBook(type).values;
    for (let i = 0; i < 16; i++) assert.ok(Object.is(got[i], want[i]) || got[i] === want[i], `${type}[${i}]`);
    assert.equal(identifyCodeBook(vectors[type]), type);
  }
  assert.equal(CODEBOOKS.int4.length, 16);
  assert.equal(identifyCodeBook(CODEBOOKS.int4), "int4");
  assert.equal(codeBook(Array.from({ length: 16 }, (_, i) => i / 15)).name, "custom");
  assert.throws(() => codeBook([0, 1]), /16 code values/);
  assert.throws(() => codeBook(Array.from({ length: 16 }, (_, i) => i)), /\[-1, 1\]/);
});

for (const type of ["nf4", "fp4"] as const) {
  test(`${type}: packed bytes, absmax and dequantized values equal bitsandbytes'`, () => {
    const q = quantize4bit(detInput(), [4, 64], { quantType: type, blocksize: 64 });
    assert.equal(hex(q.packed), vectors[`det_${type}_packed_hex`]);
    assert.deepEqual([...q.scales()], vectors.det_nf4_absmax);
    const y = q.dequantizeToArray();
    const want = new Float32Array(vectors[`det_${type}_dequant_first16`]);
    for (let i = 0; i < 16; i++) assert.equal(y[i], want[i], `value ${i}`);
  });
}

test("a value exactly on a midpoint takes the lower code (tie_test)", () => {
  const q = quantize4bit(new Float32Array(vectors.tie_test.input), [4]);
  assert.equal(hex(q.packed), vectors.tie_test.packed_hex);
});

test("tail block keeps its own absmax (remainder_test, n = 70, blocksize 64)", () => {
  const r = vectors.remainder_test;
  const x = Float32Array.from({ length: r.n }, (_, i) => i + 1);
  const q = quantize4bit(x, [r.n]);
  assert.deepEqual([...q.scales()], r.absmax);
  assert.equal(q.packed.length, r.packed_len);
  assert.equal(hex(q.packed), r.packed_hex);
});

test("zero block: 0x77 by default (CPU backend), 0x00 on request (CUDA); both read back as zeros", () => {
  const x = new Float32Array(128);
  x.fill(0.5, 64);
  const cpu = quantize4bit(x, [128]);
  assert.equal(hex(cpu.packed.subarray(0, 4)), vectors.zero_block_default_backend_packed_hex_first4);
  const cuda = quantize4bit(x, [128], { zeroBlockByte: 0x00 });
  assert.equal(hex(cuda.packed.subarray(0, 32)), "00".repeat(32));
  for (const q of [cpu, cuda]) {
    const y = q.dequantizeToArray();
    for (let i = 0; i < 64; i++) assert.equal(Math.abs(y[i]!), 0);
    assert.equal(y[64], 0.5);
  }
});

test("odd length pads one 0.0 into the low nibble of the last byte; first element in the high nibble", () => {
  const q = quantize4bit(new Float32Array([1, -1, 1]), [3]);
  assert.equal(hex(q.packed), "f0f7");
  assert.deepEqual([...q.dequantizeToArray()], [1, -1, 1]);
});

test("fp4 maps through the sorted code order; int4 and user books round-trip their own code values", () => {
  const fp4 = quantize4bit(new Float32Array(CODEBOOKS.fp4), [16], { quantType: "fp4", blocksize: 32 });
  const y = fp4.dequantizeToArray();
  for (let i = 0; i < 16; i++) assert.ok(y[i] === Math.fround(CODEBOOKS.fp4[i]!), `fp4 code ${i}`); // -0 reads back as 0
  const int4 = quantize4bit(Float32Array.from({ length: 15 }, (_, i) => (i - 7) / 7), [15], { quantType: "int4", blocksize: 32 });
  assert.deepEqual([...int4.dequantizeToArray()], Array.from({ length: 15 }, (_, i) => Math.fround((i - 7) / 7)));
  // A user book with two nearly equal values still quantizes exactly (the fallback search path).
  const book = [-1, -0.5, -0.25, -0.1, -0.05, 0, 0.0001, 0.0002, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1];
  const custom = quantize4bit(new Float32Array(book), [16], { code: book, blocksize: 32 });
  assert.equal(custom.quantType, "custom");
  assert.deepEqual([...custom.dequantizeToArray()], book.map(Math.fround));
});

import { DEQUANT_KERNEL, dequantizeBlockwise4bitSimd } from "../../../lib/quant/dequant_simd.js";
import { dequantizeBlockwise4bit } from "../../../lib/quant/blockwise_4bit.js";
import { seededNormal } from "../../../lib/quant/random_normal.js";

test("the WebAssembly SIMD dequantizer gives the scalar kernel's bits (every block size, tails, odd n, fp4)", () => {
  assert.ok(DEQUANT_KERNEL.available(), "WebAssembly SIMD compiles on Node 20");
  for (const [n, blocksize, quantType] of [[4096, 32, "nf4"], [70, 64, "nf4"], [231, 128, "fp4"], [8192 + 33, 4096, "nf4"], [64 * 50, 64, "fp4"], [31, 32, "nf4"]] as const) {
    const q = quantize4bit(seededNormal(n, n), [n], { blocksize, quantType, doubleQuant: n > 1000 });
    const scalar = dequantizeBlockwise4bit(q.packed, q.scales(), q.code, blocksize, n);
    // Into a NaN-filled view at an offset: every value must be written, nothing outside it.
    const backing = new Float32Array(n + 3).fill(NaN);
    const simd = dequantizeBlockwise4bitSimd(q.packed, q.scales(), q.code, blocksize, n, backing.subarray(1, n + 1));
    assert.equal(Buffer.compare(Buffer.from(simd.buffer, simd.byteOffset, n * 4), Buffer.from(scalar.buffer, 0, n * 4)), 0, `n=${n} blocksize=${blocksize} ${quantType}`);
    assert.ok(Number.isNaN(backing[0]!) && Number.isNaN(backing[n + 1]!), "writes stay inside out");
    assert.deepEqual(q.dequantizeToArray(), scalar);
    const reused = new Float32Array(n).fill(NaN);
    assert.equal(q.dequantizeToArray(reused), reused, "a caller-owned buffer is filled and returned");
    assert.deepEqual(reused, scalar);
  }
});

test("a chunked SIMD dequantize over many chunks (4 Mi values) matches the scalar kernel", () => {
  const n = (1 << 22) + 64 * 3 + 10;
  const q = quantize4bit(seededNormal(n, 5), [n], { blocksize: 64 });
  const scalar = dequantizeBlockwise4bit(q.packed, q.scales(), q.code, 64, n);
  const simd = q.dequantizeToArray(new Float32Array(n));
  assert.equal(Buffer.compare(Buffer.from(simd.buffer), Buffer.from(scalar.buffer)), 0);
  assert.throws(() => q.dequantizeToArray(new Float32Array(n - 1)), /output of/);
});

import { QUANT_KERNEL } from "../../../lib/quant/quant_simd.js";
import { prepareCodeSearch, searchMidpoints } from "../../../lib/quant/code_search.js";
import { quantizeBlockwise4bit } from "../../../lib/quant/blockwise_4bit.js";

/** bitsandbytes' rule written plainly: reciprocal for full blocks, division for the tail, count the midpoints below s. */
function referenceQuantize(x: Float32Array, code: Float32Array, blocksize: number, zeroBlockByte: number): Uint8Array {
  const f32 = Math.fround;
  const { midpoints, order } = prepareCodeSearch(code);
  const n = x.length;
  const nibbles = new Uint8Array(n + 1);
  const out = new Uint8Array(Math.ceil(n / 2));
  for (let start = 0; start < n; start += blocksize) {
    const end = Math.min(start + blocksize, n);
    let mx = 0;
    for (let j = start; j < end; j++) mx = Math.max(mx, Math.abs(x[j]!));
    if (mx === 0) {
      for (let j = start; j < end; j += 2) out[j >> 1] = zeroBlockByte;
      continue;
    }
    const inv = f32(1 / Math.max(mx, f32(1e-38)));
    for (let j = start; j < end; j++) {
      const s = Math.max(-1, Math.min(1, end - start === blocksize ? f32(x[j]! * inv) : f32(x[j]! / mx)));
      nibbles[j] = order[searchMidpoints(midpoints, s)]!;
    }
    if ((end - start) % 2 === 1) nibbles[end] = order[searchMidpoints(midpoints, 0)]!;
    for (let j = start; j < end; j += 2) out[j >> 1] = (nibbles[j]! << 4) | nibbles[j + 1]!;
  }
  return out;
}

test("the SIMD quantizer gives bitsandbytes' bytes: every book and block size, midpoints and their neighbours, clamping, zero blocks, tails", () => {
  assert.ok(QUANT_KERNEL.available(), "WebAssembly SIMD compiles on Node 20");
  const step = (v: number, dir: number) => {
    const b = new Float32Array([v]);
    new Int32Array(b.buffer)[0]! += v === 0 ? 1 : Math.sign(v) * dir;
    return b[0]!;
  };
  const books = [...Object.values(CODEBOOKS).map((b) => new Float32Array(b)), new Float32Array([-1, -0.9, -0.899, -0.5, -0.1, -0.01, -0.001, 0, 0.001, 0.0011, 0.1, 0.3, 0.5, 0.9, 0.95, 1])];
  for (const code of books) {
    const { midpoints } = prepareCodeSearch(code);
    // Block 0 and 2 have absmax exactly 1 so s = x: each midpoint, its neighbours, and the code values.
    const edges: number[] = [];
    for (const m of midpoints) edges.push(m, step(m, 1), step(m, -1));
    for (const c of code) edges.push(c, step(c, 1), step(c, -1));
    for (const blocksize of [32, 64, 256, 4096]) {
      const blocks: number[][] = [];
      for (let i = 0; i < edges.length; i += blocksize - 1) blocks.push([1, ...edges.slice(i, i + blocksize - 1)]);
      blocks.push([]); // an all-zero block
      const random = seededNormal(blocksize * 3 + 17, blocksize);
      const x = new Float32Array(blocks.length * blocksize + random.length);
      blocks.forEach((b, i) => x.set(b, i * blocksize));
      x.set(random, blocks.length * blocksize);
      x[x.length - 20] = 1e-40; // subnormal
      for (const zeroBlockByte of [0x77, 0x00]) {
        const got = quantizeBlockwise4bit(x, { code, blocksize, zeroBlockByte });
        const want = referenceQuantize(x, code, blocksize, zeroBlockByte);
        assert.equal(Buffer.compare(Buffer.from(got.packed), Buffer.from(want)), 0, `blocksize ${blocksize}, book ${code[1]}`);
      }
    }
  }
  // Non-finite values still name the element, wherever the block is.
  const bad = seededNormal(64 * 40, 3);
  bad[64 * 33 + 5] = NaN;
  assert.throws(() => quantizeBlockwise4bit(bad, { code: new Float32Array(CODEBOOKS.nf4), blocksize: 64, zeroBlockByte: 0x77 }), /element 2117 \(block 33/);
  bad[64 * 33 + 5] = 1;
  bad[7] = -Infinity;
  assert.throws(() => quantizeBlockwise4bit(bad, { code: new Float32Array(CODEBOOKS.nf4), blocksize: 64, zeroBlockByte: 0x77 }), /element 7 \(block 0/);
});
