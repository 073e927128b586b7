// bfloat16 on the wasm heap: widening (every one of the 65,536 bit patterns, signs, subnormals, infinities,
// NaN payloads, becomes exactly its bits shifted left by 16, across chunk edges and tails) and the fused one-row dot.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { widenBfloat16ToWasmTensor } from "../../../lib/ops/widen_bf16.js";
import { bf16DotProduct, canBf16DotProduct } from "../../../lib/ops/bf16_dot.js";

before(async () => {
  await resolveBackend({ env: { QLORA_LAB_BACKEND: "wasm" } });
});

function widenedBits(bits: Uint16Array): Uint32Array {
  const t = widenBfloat16ToWasmTensor(bits, [bits.length]);
  assert.ok(t, "the kernel runs on the wasm backend");
  const out = new Uint32Array((t.dataSync() as Float32Array).slice().buffer);
  t.dispose();
  return out;
}

test("every bfloat16 pattern widens to its bits << 16, with more than one chunk and an odd tail", () => {
  for (const extra of [0, 13]) {
    const bits = Uint16Array.from({ length: 65536 + extra }, (_, i) => (i * 40503) & 0xffff); // a permutation of all patterns, then a tail
    const out = widenedBits(bits);
    for (let i = 0; i < bits.length; i++) if (out[i] !== (bits[i]! << 16) >>> 0) assert.fail(`pattern 0x${bits[i]!.toString(16)}: got 0x${out[i]!.toString(16)}`);
  }
});

test("short inputs (below one SIMD group) widen on the tail path", () => {
  const bits = Uint16Array.of(0x3f80, 0xbf80, 0x7f80, 0x0001, 0x7fc1);
  assert.deepEqual([...widenedBits(bits)], [...bits].map((b) => (b << 16) >>> 0));
  assert.equal(widenBfloat16ToWasmTensor(new Uint16Array(0), [0]), null);
});

test("one row times a bfloat16 weight (the fused dot kernel) equals the product with the widened weight, across staging chunks", () => {
  for (const [N, K, m] of [[40, 64, 1], [300, 264, 1], [7, 8, 3]] as const) { // 300 x 264 bfloat16 is more than one 128 KiB chunk
    const bits = Uint16Array.from({ length: N * K }, (_, i) => 0x3c00 + ((i * 2654435761) >>> 20) % 0x600); // values in about [2^-7, 2^4), both signs below
    for (let i = 0; i < bits.length; i += 3) bits[i]! |= 0x8000;
    const x = tf.tensor2d(Float32Array.from({ length: m * K }, (_, i) => Math.sin(i)), [m, K]);
    const fused = bf16DotProduct(x, bits, [N, K]);
    const reference = tf.tidy(() => tf.matMul(x, tf.tensor2d(new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer), [N, K]), false, true));
    const [f, r] = [fused.dataSync(), reference.dataSync()];
    const scale = Math.max(...r.map(Math.abs));
    for (let i = 0; i < r.length; i++) assert.ok(Math.abs(f[i]! - r[i]!) <= 1e-5 * scale, `[${N}, ${K}] x ${m}: element ${i}: ${f[i]} vs ${r[i]}`);
    tf.dispose([x, fused, reference]);
  }
  assert.equal(canBf16DotProduct(12), false);
});
