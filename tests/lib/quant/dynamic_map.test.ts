// Dynamic 8-bit maps against bitsandbytes' own (bnb-4bit-vectors.json), and blockwise 8-bit round trips.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { prepareCodeSearch, searchMidpoints } from "../../../lib/quant/code_search.js";
import { createDynamicMap, dequantizeBlockwise8bit, quantizeBlockwise8bit, signedDynamicMap, unsignedDynamicMap } from "../../../lib/quant/dynamic_map.js";
import { seededNormal } from "../../../lib/quant/random_normal.js";

const vectors = JSON.parse(readFileSync(new URL("../../../../shared/reference/bnb-4bit-vectors.json", import.meta.url), "utf8"));

function assertSameFloat32(actual: Float32Array, expectedValues: number[], what: string): void {
  assert.equal(actual.length, expectedValues.length, `${what}: length`);
  const want = new Float32Array(expectedValues);
  for (let i = 0; i < want.length; i++) assert.equal(actual[i], want[i], `${what}[${i}]`);
}

test("signed dynamic map equals bitsandbytes' dynamic_signed_256 bit for bit", () => {
  assertSameFloat32(signedDynamicMap(), vectors.dynamic_signed_256, "signed");
});

test("unsigned dynamic map equals bitsandbytes' dynamic_unsigned_256 bit for bit", () => {
  assertSameFloat32(unsignedDynamicMap(), vectors.dynamic_unsigned_256, "unsigned");
});

test("createDynamicMap validates its options and returns sorted maps", () => {
  assert.throws(() => createDynamicMap({ totalBits: 9 }), /totalBits/);
  assert.throws(() => createDynamicMap({ maxExponentBits: 8 }), /maxExponentBits/);
  const small = createDynamicMap({ signed: true, maxExponentBits: 3, totalBits: 4 });
  assert.equal(small.length, 256);
  for (let i = 1; i < small.length; i++) assert.ok(small[i - 1]! <= small[i]!);
});

test("blockwise 8-bit on randn stays within bitsandbytes' error bounds (abs < 0.011, rel < 0.018)", () => {
  const x = seededNormal(1 << 16, 7);
  const map = signedDynamicMap();
  const q = quantizeBlockwise8bit(x, map, 256);
  const y = dequantizeBlockwise8bit(q.codes, q.absmax, map, 256);
  let abs = 0;
  let rel = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i]! - y[i]!);
    abs += d;
    rel += d / (Math.abs(x[i]!) + 1e-8);
  }
  assert.ok(abs / x.length < 0.011, `abs ${abs / x.length}`);
  assert.ok(rel / x.length < 0.018, `rel ${rel / x.length}`);
});

test("8-bit: absmax per block, tail block, zero block, exact codes of map values, tie takes the lower code", () => {
  const map = signedDynamicMap();
  // Block 0 holds exact map values times 2, block 1 is all zero, block 2 is a 3-element tail.
  const mid = (map[200]! + map[201]!) / 2;
  const x = new Float32Array([2 * map[10]!, 2 * map[200]!, 2, 2 * map[127]!, 0, 0, 0, 0, mid, 1, -0.5]);
  const q = quantizeBlockwise8bit(x, map, 4);
  assert.deepEqual([...q.absmax], [2, 0, 1]);
  assert.deepEqual([...q.codes.subarray(0, 4)], [10, 200, 255, 127]);
  assert.deepEqual([...q.codes.subarray(4, 8)], [127, 127, 127, 127]);
  assert.equal(q.codes[8], 200, "a value on the midpoint takes the lower code");
  const y = dequantizeBlockwise8bit(q.codes, q.absmax, map, 4);
  assert.deepEqual([...y.subarray(4, 8)], [0, 0, 0, 0]);
  assert.equal(y[2], 2);
  // Reusing buffers gives the same result.
  const again = quantizeBlockwise8bit(x, map, 4, { codes: new Uint8Array(11), absmax: new Float32Array(3) });
  assert.deepEqual(again.codes, q.codes);
  assert.throws(() => quantizeBlockwise8bit(x, map, 0), /blocksize/);
  assert.throws(() => dequantizeBlockwise8bit(q.codes, new Float32Array(2), map, 4), /3 scales/);
});

test("unsigned map quantizes non-negative values (8-bit Adam's second moment)", () => {
  const map = unsignedDynamicMap();
  const x = seededNormal(4096, 3).map((v) => v * v);
  const q = quantizeBlockwise8bit(x, map, 256);
  const y = dequantizeBlockwise8bit(q.codes, q.absmax, map, 256);
  let rel = 0;
  for (let i = 0; i < x.length; i++) rel += Math.abs(x[i]! - y[i]!) / (x[i]! + 1e-8);
  assert.ok(rel / x.length < 0.05, `rel ${rel / x.length}`);
  for (const v of y) assert.ok(v >= 0);
});

test("8-bit cell lookup picks the same code as a binary search over the midpoints, edge values included", () => {
  const f32 = Math.fround;
  const next = (v: number, dir: 1 | -1) => {
    // The neighbouring float32 of v in direction dir.
    const b = new Float32Array([v]);
    const i = new Int32Array(b.buffer);
    if (v === 0) return dir * 1.401298464324817e-45;
    i[0]! += (v > 0 ? 1 : -1) * dir;
    return b[0]!;
  };
  // The 5-bit map is padded with zeros: repeated values give repeated midpoints.
  for (const map of [signedDynamicMap(), unsignedDynamicMap(), createDynamicMap({ totalBits: 5, maxExponentBits: 2 })]) {
    const { midpoints, order } = prepareCodeSearch(map);
    const edge: number[] = [0, -0, 1, -1, 1e-45, -1e-45, 2 ** -32, -(2 ** -32), 2 ** -40, 0.5, -0.5];
    for (const m of midpoints) edge.push(m, next(m, 1), next(m, -1));
    for (const v of map) edge.push(v, next(v, 1), next(v, -1));
    const random = seededNormal(20000, 11);
    for (let i = 0; i < random.length; i++) edge.push(random[i]! * 10 ** -(i % 9));
    // Blocks of two: [1, v], so s = v whenever |v| <= 1; the reference rescales like the quantizer otherwise.
    const x = new Float32Array(edge.length * 2);
    edge.forEach((v, i) => {
      x[2 * i] = 1;
      x[2 * i + 1] = f32(v);
    });
    const q = quantizeBlockwise8bit(x, map, 2);
    for (let i = 0; i < edge.length; i++) {
      const v = f32(edge[i]!);
      const s = Math.max(-1, Math.min(1, f32(v * f32(1 / Math.max(1, Math.abs(v))))));
      const want = order[searchMidpoints(midpoints, s)]!;
      assert.equal(q.codes[2 * i + 1], want, `s = ${s}`);
    }
  }
});

test("8-bit: NaN takes the lowest code and Inf saturates the block, as the binary search did", () => {
  const map = signedDynamicMap();
  const q = quantizeBlockwise8bit(new Float32Array([NaN, 0.5, 1, -1]), map, 4);
  assert.equal(q.codes[0], 0);
  assert.equal(q.absmax[0], 1);
  const inf = quantizeBlockwise8bit(new Float32Array([Infinity, 0.5]), map, 2);
  assert.equal(inf.absmax[0], Infinity);
});
