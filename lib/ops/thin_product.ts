// a^T x for a thin a: [N, r] (r a LoRA rank) and x: [N, n] -> [r, n], by a WebAssembly SIMD kernel
// working in the TF.js wasm backend's heap. A LoRA weight gradient (dA = ddown^T x, dB^T = down^T dy)
// has this shape; XNNPACK's GEMM packs its right operand afresh for every new tensor, so for r rows out
// it spent several times longer packing x [N, in] than multiplying. The kernel reads each row of x once
// and adds a[i, j] * x[i, :] into row j of the output, which stays in cache (r * n floats).
import * as tf from "@tensorflow/tfjs-core";
import { OP, SIMD_OP, I32, V128, singleFunctionModule, sleb, uleb } from "./wasm_asm.js";
import { WasmKernel } from "./wasm_kernel.js";
import { activeWasmBackend } from "./wasm_heap.js";

/** Largest r the kernel serves; above it XNNPACK's packing pays for itself. */
export const THIN_MAX_ROWS = 16;

const { LOCAL_GET, LOCAL_SET, LOCAL_TEE, I32_CONST, I32_ADD, I32_SUB, F32_LOAD, LOOP, VOID, BR_IF, END } = OP;
const { V128_LOAD, V128_STORE, F32X4_SPLAT, F32X4_MUL } = SIMD_OP;
const F32X4_ADD = 0xe4;
const I32_LT_U = 0x49;

/** The kernel's bytes: `thin(out, a, x, rows, r, rowBytes)` adds a^T x into out ([r, n], n * 4 = rowBytes, n a multiple of 4). */
function kernelBytes(): Uint8Array {
  const [OUT, A, X, ROWS, R, ROW_BYTES] = [0, 1, 2, 3, 4, 5];
  const [X_ROW, O_ROW, J, XP, X_END, OP_PTR] = [6, 7, 8, 9, 10, 11]; // i32 locals
  const S = 12; // v128 local: a[i, j] in every lane
  const code: number[] = [];
  const get = (l: number) => code.push(LOCAL_GET, ...uleb(l));
  const set = (l: number) => code.push(LOCAL_SET, ...uleb(l));
  const tee = (l: number) => code.push(LOCAL_TEE, ...uleb(l));
  const simd = (op: number, ...imm: number[]) => code.push(OP.SIMD, ...uleb(op), ...imm);
  const addConst = (l: number, n: number) => {
    get(l);
    code.push(I32_CONST, ...sleb(n));
    code.push(I32_ADD);
    set(l);
  };
  get(X);
  set(X_ROW);
  code.push(LOOP, VOID); // rows i
  {
    get(OUT);
    set(O_ROW);
    get(R);
    set(J);
    code.push(LOOP, VOID); // output rows j
    {
      get(A);
      code.push(F32_LOAD, 2, 0);
      simd(F32X4_SPLAT);
      set(S);
      addConst(A, 4);
      get(X_ROW);
      set(XP);
      get(X_ROW);
      get(ROW_BYTES);
      code.push(I32_ADD);
      set(X_END);
      get(O_ROW);
      set(OP_PTR);
      code.push(LOOP, VOID); // columns, four at a time: out[j, c..c+3] += a[i, j] * x[i, c..c+3]
      {
        get(OP_PTR);
        get(OP_PTR);
        simd(V128_LOAD, 0, 0);
        get(XP);
        simd(V128_LOAD, 0, 0);
        get(S);
        simd(F32X4_MUL);
        simd(F32X4_ADD);
        simd(V128_STORE, 0, 0);
        addConst(OP_PTR, 16);
        get(XP);
        code.push(I32_CONST, ...sleb(16), I32_ADD);
        tee(XP);
        get(X_END);
        code.push(I32_LT_U, BR_IF, 0);
      }
      code.push(END);
      get(O_ROW);
      get(ROW_BYTES);
      code.push(I32_ADD);
      set(O_ROW);
      get(J);
      code.push(I32_CONST, ...sleb(1), I32_SUB);
      tee(J);
      code.push(BR_IF, 0);
    }
    code.push(END);
    get(X_ROW);
    get(ROW_BYTES);
    code.push(I32_ADD);
    set(X_ROW);
    get(ROWS);
    code.push(I32_CONST, ...sleb(1), I32_SUB);
    tee(ROWS);
    code.push(BR_IF, 0);
  }
  code.push(END);
  return singleFunctionModule("thin", 6, [[6, I32], [1, V128]], code);
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
  return tf.engine().makeTensorFromTensorInfo(out) as tf.Tensor2D;
}
