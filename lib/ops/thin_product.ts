// a^T x for a thin a: [N, r] (r a LoRA rank) and x: [N, n] -> [r, n], by a WebAssembly SIMD kernel
// working in the TF.js wasm backend's heap. A LoRA weight gradient (dA = ddown^T x, dB^T = down^T dy)
// has this shape; XNNPACK's GEMM packs its right operand afresh for every new tensor, so for r rows out
// it spent several times longer packing x [N, in] than multiplying. The kernel reads each row of x once
// and adds a[i, j] * x[i, :] into row j of the output, which stays in cache (r * n floats).
import * as tf from "@tensorflow/tfjs-core";
import { FunctionBuilder, I32, OP, SIMD_OP, V128 } from "./wasm_asm.js";
import { WasmKernel } from "./wasm_kernel.js";
import { activeWasmBackend } from "./wasm_heap.js";
import { adoptTensor } from "./adopt_tensor.js";

/** Largest r the kernel serves; above it XNNPACK's packing pays for itself. */
export const THIN_MAX_ROWS = 16;

/** The kernel's bytes: `thin(out, a, x, rows, r, rowBytes)` adds a^T x into out ([r, n], n * 4 = rowBytes, n a multiple of 4). */
function kernelBytes(exportName: string): Uint8Array {
  const b = new FunctionBuilder(6);
  const [OUT, A, X, ROWS, R, ROW_BYTES] = [0, 1, 2, 3, 4, 5];
  const [X_ROW, O_ROW, J, XP, X_END, OP_PTR] = b.locals(I32, 6);
  const S = b.local(V128); // a[i, j] in every lane
  b.get(X);
  b.set(X_ROW);
  b.loop(() => {
    // rows i
    b.get(OUT);
    b.set(O_ROW);
    b.get(R);
    b.set(J);
    b.loop(() => {
      // output rows j
      b.get(A);
      b.op(OP.F32_LOAD, 2, 0);
      b.simd(SIMD_OP.F32X4_SPLAT);
      b.set(S);
      b.add(A, 4);
      b.get(X_ROW);
      b.set(XP);
      b.get(X_ROW);
      b.get(ROW_BYTES);
      b.op(OP.I32_ADD);
      b.set(X_END);
      b.get(O_ROW);
      b.set(OP_PTR);
      b.loop(() => {
        // columns, four at a time: out[j, c..c+3] += a[i, j] * x[i, c..c+3]
        b.get(OP_PTR);
        b.get(OP_PTR);
        b.simd(SIMD_OP.V128_LOAD, 0, 0);
        b.get(XP);
        b.simd(SIMD_OP.V128_LOAD, 0, 0);
        b.get(S);
        b.simd(SIMD_OP.F32X4_MUL);
        b.simd(SIMD_OP.F32X4_ADD);
        b.simd(SIMD_OP.V128_STORE, 0, 0);
        b.add(OP_PTR, 16);
        b.stepUntil(XP, 16, X_END, OP.I32_LT_U);
      });
      b.get(O_ROW);
      b.get(ROW_BYTES);
      b.op(OP.I32_ADD);
      b.set(O_ROW);
      b.countDown(J);
    });
    b.get(X_ROW);
    b.get(ROW_BYTES);
    b.op(OP.I32_ADD);
    b.set(X_ROW);
    b.countDown(ROWS);
  });
  return b.module(exportName);
}

/** The kernel (compiled on first use). */
export const THIN_PRODUCT_KERNEL = new WasmKernel("thin", kernelBytes);

/** Whether a: [N, r], x: [N, n] has the kernel's shape: r at most THIN_MAX_ROWS, n a positive multiple of 4. */
export function isThinShape(rows: number, r: number, n: number): boolean {
  return rows > 0 && r <= THIN_MAX_ROWS && n > 0 && n % 4 === 0;
}

/** Whether {@link thinProduct} can run: the kernel compiled and the wasm backend's heap reachable. */
export function thinProductAvailable(): boolean {
  return THIN_PRODUCT_KERNEL.available() && activeWasmBackend() !== null;
}

/** a^T x for a: [N, r], x: [N, n] -> [r, n] on the wasm heap (see isThinShape, thinProductAvailable); float32 sums in row order. */
export function thinProduct(a: tf.Tensor2D, x: tf.Tensor2D): tf.Tensor2D {
  const [rows, r] = a.shape;
  const n = x.shape[1];
  const { backend, memory } = activeWasmBackend()!;
  const out = backend.makeOutput([r, n], "float32");
  const outAt = backend.getMemoryOffset(out.dataId);
  new Float32Array(memory.buffer, outAt, r * n).fill(0);
  THIN_PRODUCT_KERNEL.instantiate(memory)(outAt, backend.getMemoryOffset(a.dataId), backend.getMemoryOffset(x.dataId), rows, r, 4 * n);
  return adoptTensor<tf.Tensor2D>(out, "thinProduct");
}
