// bfloat16 -> float32 widening on the wasm heap: every one of the 65,536 bit patterns (signs, subnormals,
// infinities, NaN payloads) becomes exactly its bits shifted left by 16, across chunk edges and tails.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { widenBfloat16ToWasmTensor } from "../../../lib/ops/widen_bf16.js";

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
