// The product of one x row with a bfloat16 weight W [N, K] (y = x W^T, what a 16-bit base linear does
// per generated token) with a WebAssembly SIMD kernel: each run of 8 bfloat16 is widened in registers
// (zero-extend, shift by 16) and multiplied into a running sum, so the float32 weight (2x the bytes) is
// never written to memory and read back.
import * as tf from "@tensorflow/tfjs-core";
import { FunctionBuilder, I32, SIMD_OP, V128 } from "./wasm_asm.js";
import { WasmKernel } from "./wasm_kernel.js";
import { activeWasmBackend, writeHeapTensor } from "./wasm_heap.js";

const S = SIMD_OP;

/** `dot(out, bits, rows, x, groupsPerRow)`: out[row] = sum_k x[k] * w[row, k] for `rows` rows of 8 * groupsPerRow bfloat16. */
function kernelBytes(exportName: string): Uint8Array {
  const b = new FunctionBuilder(5);
  const [OUT, BITS, ROWS, X, GPR] = [0, 1, 2, 3, 4];
  const [XP, GROUPS] = b.locals(I32, 2);
  const [SUM, HALVES] = b.locals(V128, 2);
  b.loop(() => {
    b.splat(0, true);
    b.set(SUM);
    b.get(X);
    b.set(XP);
    b.get(GPR);
    b.set(GROUPS);
    b.loop(() => {
      b.get(BITS);
      b.simd(S.V128_LOAD, 0, 0);
      b.set(HALVES);
      for (const [extend, offset] of [[S.I32X4_EXTEND_LOW_I16X8_U, 0], [S.I32X4_EXTEND_HIGH_I16X8_U, 16]] as const) {
        // sum += widen(w[4]) * x[4]
        b.get(HALVES);
        b.simd(extend);
        b.i32(16);
        b.simd(S.I32X4_SHL);
        b.get(XP);
        b.simd(S.V128_LOAD, 0, offset);
        b.simd(S.F32X4_MUL);
        b.get(SUM);
        b.simd(S.F32X4_ADD);
        b.set(SUM);
      }
      b.add(BITS, 16);
      b.add(XP, 32);
      b.countDown(GROUPS);
    });
    b.storeLaneSum(OUT, SUM); // out[row] = (sum0 + sum1) + (sum2 + sum3)
    b.add(OUT, 4);
    b.countDown(ROWS);
  });
  return b.module(exportName);
}

/** The kernel (compiled on first use). */
export const BF16_DOT_KERNEL = new WasmKernel("dot16", kernelBytes);

/** bfloat16 bytes staged per kernel call: 128 KiB (in cache). */
const CHUNK_BYTES = 1 << 17;

/** Whether the kernel can multiply by a [N, K] bfloat16 weight here: wasm backend, SIMD, K a multiple of 8. */
export function canBf16DotProduct(K: number): boolean {
  return K % 8 === 0 && K > 0 && BF16_DOT_KERNEL.available() && activeWasmBackend() !== null;
}

/** x [m, K] @ W^T -> [m, N] for bfloat16 `bits` of W [N, K], one x row at a time (call where {@link canBf16DotProduct}). */
export function bf16DotProduct(x: tf.Tensor2D, bits: Uint16Array, shape: readonly [number, number]): tf.Tensor2D {
  const { backend, memory } = activeWasmBackend()!;
  const [N, K] = shape;
  const [m] = x.shape;
  const rowsPerChunk = Math.max(1, Math.min(N, Math.floor(CHUNK_BYTES / (2 * K))));
  const dot = BF16_DOT_KERNEL.instantiate(memory);
  return writeHeapTensor(backend, [m, N], 2 * rowsPerChunk * K, (outAt, stagingAt) => {
    const xAt = backend.getMemoryOffset(x.dataId);
    for (let row0 = 0; row0 < N; row0 += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, N - row0);
      new Uint16Array(memory.buffer, stagingAt, rows * K).set(bits.subarray(row0 * K, (row0 + rows) * K));
      for (let i = 0; i < m; i++) dot(outAt + 4 * (i * N + row0), stagingAt, rows, xAt + 4 * i * K, K / 8);
    }
  }) as tf.Tensor2D;
}
