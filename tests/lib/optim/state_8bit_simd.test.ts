// The 8-bit state kernels against lib/quant's scalar blockwise 8-bit functions (bit for bit) and
// against a brute-force nearest code over bitsandbytes' own dynamic maps (bnb-4bit-vectors.json).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { createDynamicMap, dequantizeBlockwise8bit, quantizeBlockwise8bit, signedDynamicMap, unsignedDynamicMap } from "../../../lib/quant/dynamic_map.js";
import { seededNormal } from "../../../lib/quant/random_normal.js";
import { State8bitRunner, kernelMap } from "../../../lib/optim/state_8bit_runner.js";
import { cellTable, state8bitKernelsAvailable } from "../../../lib/optim/state_8bit_simd.js";

const vectors = JSON.parse(readFileSync(new URL("../../../../shared/reference/bnb-4bit-vectors.json", import.meta.url), "utf8"));

/** The neighbouring float32 of v towards +Infinity (dir 1) or -Infinity (dir -1). */
function nextFloat(v: number, dir: 1 | -1): number {
  if (v === 0) return dir * 1.401298464324817e-45;
  const f = new Float32Array([v]);
  new Int32Array(f.buffer)[0]! += (v > 0 ? 1 : -1) * dir;
  return f[0]!;
}

/**
 * `blocks` (at least 10) blocks of 256 plus a `tail` that exercise every rule: scaled randn over nine
 * decades; blocks 0-3 open with 1 (so s is the value itself) followed by every map value and every
 * float32 midpoint with both its neighbours (a value on a midpoint takes the lower code); an all-zero
 * and an all -0 block; blocks holding NaN, +Infinity, -Infinity; a block whose absmax is 3 (s = +-1).
 */
function hardValues(map: Float32Array, blocks: number, tail: number, seed: number): Float32Array {
  const x = seededNormal(Math.max(blocks, 10) * 256 + tail, seed);
  for (let i = 0; i < x.length; i++) x[i] = x[i]! * 10 ** -((i >> 8) % 9);
  const edges: number[] = [];
  for (let k = 0; k < 255; k++) {
    const mid = Math.fround((map[k]! + map[k + 1]!) / 2);
    edges.push(map[k]!, mid, nextFloat(mid, 1), nextFloat(mid, -1));
  }
  for (let b = 0; b < 4; b++) {
    x[256 * b] = 1;
    x.set(edges.slice(255 * b, 255 * (b + 1)), 256 * b + 1);
  }
  x.fill(0, 1024, 1280);
  x.fill(-0, 1280, 1536);
  x[1536 + 5] = NaN;
  x[1792 + 7] = Infinity;
  x[2048 + 9] = -Infinity;
  x[2304] = 3;
  x[2305] = -3;
  return x;
}

const MAPS = [
  ["signed", signedDynamicMap(), vectors.dynamic_signed_256 as number[], false],
  ["unsigned", unsignedDynamicMap(), vectors.dynamic_unsigned_256 as number[], true],
] as const;

test("the kernels compile and take both dynamic maps (so the tests below exercise them, not the scalar fallback)", () => {
  assert.ok(state8bitKernelsAvailable(), "WebAssembly SIMD kernels compile on Node 20");
  for (const [, map] of MAPS) assert.ok(cellTable(map), "at most one midpoint per cell");
});

test("host kernel path: codes, absmax and dequantized values equal lib/quant's scalar functions bit for bit", () => {
  const runner = new State8bitRunner();
  for (const [name, map, , unsigned] of MAPS) {
    // 1100 full blocks cross the 1024-block chunk of the private memory; the 77-value tail goes scalar.
    for (const [blocks, tail] of [[1100, 77], [10, 0], [0, 100]] as const) {
      let x = hardValues(map, blocks, tail, blocks + tail).subarray(0, blocks * 256 + tail);
      if (unsigned) x = x.map(Math.abs);
      const want = quantizeBlockwise8bit(x, map, 256);
      const codes = new Uint8Array(x.length);
      const absmax = new Float32Array(Math.ceil(x.length / 256));
      runner.quantize(x, kernelMap(map), codes, absmax);
      assert.deepEqual(codes, want.codes, `${name} codes (${blocks} blocks + ${tail})`);
      assert.deepEqual(absmax, want.absmax, `${name} absmax (${blocks} blocks + ${tail})`);
      const out = new Float32Array(x.length);
      runner.dequantize(codes, absmax, kernelMap(map), out);
      assert.deepEqual(out, dequantizeBlockwise8bit(want.codes, want.absmax, map, 256), `${name} dequantized`);
    }
  }
});

test("wasm heap path: quantize and dequantize in place on the backend's heap give the scalar functions' bits, no leaks", async () => {
  await resolveBackend({ force: "wasm" });
  const runner = new State8bitRunner();
  const before = tf.memory().numTensors;
  for (const [name, map, , unsigned] of MAPS) {
    let x = hardValues(map, 40, 33, 5);
    if (unsigned) x = x.map(Math.abs);
    const want = quantizeBlockwise8bit(x, map, 256);
    const t = tf.tensor1d(x);
    const payload = runner.quantizeOnWasm(t, x.length, kernelMap(map));
    assert.ok(payload, "the wasm backend's heap is reachable");
    const [codes, absmax] = payload;
    const words = codes.dataSync() as Int32Array;
    assert.equal(words.length, Math.ceil(x.length / 4));
    const bytes = new Uint8Array(words.buffer, words.byteOffset, 4 * words.length);
    assert.deepEqual(bytes.subarray(0, x.length), want.codes, `${name} codes`);
    assert.deepEqual([...bytes.subarray(x.length)], [0, 0, 0], "padding is zero");
    assert.deepEqual(absmax.dataSync(), want.absmax, `${name} absmax`);
    const deq = runner.dequantizeOnWasm(codes, absmax, x.length, kernelMap(map))!;
    assert.deepEqual(deq.dataSync(), dequantizeBlockwise8bit(want.codes, want.absmax, map, 256), `${name} dequantized`);
    tf.dispose([t, codes, absmax, deq]);
  }
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
  await resolveBackend({ force: "cpu" });
  assert.equal(runner.quantizeOnWasm(tf.zeros([256]), 256, kernelMap(signedDynamicMap())), null, "other backends take the host path");
  tf.disposeVariables();
});

test("kernel codes are the nearest entry of bitsandbytes' own maps (brute force; a value on a midpoint takes the lower code)", () => {
  const runner = new State8bitRunner();
  for (const [name, , reference, unsigned] of MAPS) {
    const map = new Float32Array(reference);
    let x = seededNormal(64 * 256, 9);
    for (let i = 0; i < x.length; i++) x[i] = x[i]! * 10 ** -((i >> 8) % 7);
    if (unsigned) x = x.map((v) => v * v);
    const codes = new Uint8Array(x.length);
    const absmax = new Float32Array(64);
    runner.quantize(x, kernelMap(map), codes, absmax);
    for (let b = 0; b < 64; b++) {
      let m = 0;
      for (let j = 0; j < 256; j++) m = Math.max(m, Math.abs(x[b * 256 + j]!));
      assert.equal(absmax[b], m);
      const inv = Math.fround(1 / m);
      for (let j = 0; j < 256; j++) {
        const s = Math.max(-1, Math.min(1, Math.fround(x[b * 256 + j]! * inv)));
        // Nearest by float32 midpoints, lower code on a tie: the last k with midpoint(k-1) < s.
        let want = 0;
        for (let k = 1; k < 256; k++) if (Math.fround((map[k - 1]! + map[k]!) / 2) < s) want = k;
        assert.equal(codes[b * 256 + j], want, `${name}: block ${b}, value ${j}, s = ${s}`);
      }
    }
  }
});

test("a map the kernel cannot take (two midpoints in one cell) goes through the scalar functions on both paths", async () => {
  // The 5-bit dynamic map is zero padded to 256 entries: its repeated midpoints share a cell.
  const map = createDynamicMap({ totalBits: 5, maxExponentBits: 2 });
  const km = kernelMap(map);
  assert.equal(km.table, null);
  const x = seededNormal(3 * 256 + 5, 4);
  const want = quantizeBlockwise8bit(x, map, 256);
  const runner = new State8bitRunner();
  const codes = new Uint8Array(x.length);
  const absmax = new Float32Array(4);
  runner.quantize(x, km, codes, absmax);
  assert.deepEqual(codes, want.codes);
  assert.deepEqual(absmax, want.absmax);
  await resolveBackend({ force: "wasm" });
  const t = tf.tensor1d(x);
  assert.equal(runner.quantizeOnWasm(t, x.length, km), null, "the codec then quantizes on the host");
  t.dispose();
});
