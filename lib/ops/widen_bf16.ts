// bfloat16 -> float32 widening straight into a TF.js wasm-backend tensor, with a WebAssembly SIMD
// kernel: a bfloat16 is the top half of a float32, so each lane is zero-extended and shifted left by
// 16 (exact; NaN payloads and signs kept). A 16-bit base linear widens its weight this way for each
// product, without the host array and copy of the plain path.
import * as tf from "@tensorflow/tfjs-core";
import { FunctionBuilder, I32, OP, SIMD_OP, V128 } from "./wasm_asm.js";
import { WasmKernel } from "./wasm_kernel.js";
import { activeWasmBackend, writeHeapTensor } from "./wasm_heap.js";

const S = SIMD_OP;

/** `widen(out, bits, groups)`: 8 bfloat16 at `bits` -> 8 float32 at `out`, `groups` times. */
function kernelBytes(exportName: string): Uint8Array {
  const b = new FunctionBuilder(3);
  const [OUT, BITS, GROUPS] = [0, 1, 2];
  const END = b.local(I32);
  const HALVES = b.local(V128);
  // end = bits + 16 * groups
  b.get(GROUPS);
  b.i32(4);
  b.op(OP.I32_SHL);
  b.get(BITS);
  b.op(OP.I32_ADD);
  b.set(END);
  b.loop(() => {
    b.get(BITS);
    b.simd(S.V128_LOAD, 0, 0);
    b.set(HALVES);
    for (const [extend, offset] of [[S.I32X4_EXTEND_LOW_I16X8_U, 0], [S.I32X4_EXTEND_HIGH_I16X8_U, 16]] as const) {
      b.get(OUT);
      b.get(HALVES);
      b.simd(extend);
      b.i32(16);
      b.simd(S.I32X4_SHL);
      b.simd(S.V128_STORE, 0, offset);
    }
    b.add(OUT, 32);
    b.stepUntil(BITS, 16, END);
  });
  return b.module(exportName);
}

/** The kernel (compiled on first use). */
export const WIDEN_BF16_KERNEL = new WasmKernel("widen", kernelBytes);

/** bfloat16 values staged per kernel call: 64 Ki (128 KiB, in cache). */
const CHUNK = 1 << 16;

/**
 * A new float32 tensor of `shape` holding the widened bfloat16 `bits`, written in place on the wasm
 * backend's heap; null where the backend is not wasm or SIMD is unavailable (the caller widens on the host).
 */
export function widenBfloat16ToWasmTensor(bits: Uint16Array, shape: number[]): tf.Tensor | null {
  const found = WIDEN_BF16_KERNEL.available() ? activeWasmBackend() : null;
  if (!found || bits.length === 0) return null;
  const { backend, memory } = found;
  const widen = WIDEN_BF16_KERNEL.instantiate(memory);
  return writeHeapTensor(backend, shape, 2 * Math.min(CHUNK, bits.length), (outAt, stagingAt) => {
    const whole = bits.length - (bits.length % 8);
    for (let first = 0; first < whole; first += CHUNK) {
      const count = Math.min(CHUNK, whole - first);
      new Uint16Array(memory.buffer, stagingAt, count).set(bits.subarray(first, first + count));
      widen(outAt + 4 * first, stagingAt, count / 8);
    }
    const tail = new Uint32Array(memory.buffer, outAt + 4 * whole, bits.length - whole);
    for (let i = 0; i < tail.length; i++) tail[i] = bits[whole + i]! << 16;
  });
}
