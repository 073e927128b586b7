// A WebAssembly SIMD kernel for blockwise 4-bit quantization with bitsandbytes' exact rules, assembled
// here from its instructions. Per block: absmax with f32x4.abs/max, s = clamp(f32(x * f32(1 / absmax)));
// the code of s is the number of the 15 float32 midpoints strictly below it (15 vector compares per
// four values), mapped through the sorted order with i8x16.swizzle and packed two codes per byte.
import { OP, SIMD_OP, F32, I32, V128, align16, singleFunctionModule, sleb, uleb, wasmApi } from "../ops/wasm_asm.js";
import { WasmKernel } from "../ops/wasm_kernel.js";

const { LOCAL_GET, LOCAL_SET, LOCAL_TEE, I32_CONST, I32_ADD, I32_SUB, I32_NE, F32_LOAD, F32_STORE, F32_DIV, F32_MAX, LOOP, VOID, BR_IF, END, SIMD } = OP;
const S = SIMD_OP;

/** The kernel's bytes: `quant(values, packed, absmax, midpoints, order, blocks, blocksize)` over an imported memory. */
function kernelBytes(): Uint8Array {
  const [VAL, PK, AM, MID, ORD, NB, BS] = [0, 1, 2, 3, 4, 5, 6];
  const [END_PTR, P] = [7, 8];
  const [MX, INV] = [9, 10];
  let next = 11;
  const v = () => next++;
  const M = Array.from({ length: 15 }, v);
  const [ORDER, ONE, NEG1, MASK, INVV, MXV] = [v(), v(), v(), v(), v(), v()];
  const SV = Array.from({ length: 4 }, v);
  const C = Array.from({ length: 8 }, v);
  const W = Array.from({ length: 4 }, v);
  const [T0, T1] = [v(), v()];
  const code: number[] = [];
  const get = (l: number) => code.push(LOCAL_GET, ...uleb(l));
  const set = (l: number) => code.push(LOCAL_SET, ...uleb(l));
  const simd = (op: number, ...imm: number[]) => code.push(SIMD, ...uleb(op), ...imm);
  const f32Bytes = (x: number) => [...new Uint8Array(new Float32Array([x]).buffer)];
  const vconst = (bytes: number[]) => simd(S.V128_CONST, ...bytes);
  const i32 = (x: number) => code.push(I32_CONST, ...sleb(x));
  // Constants: midpoint splats, the order table, +-1, the low-byte mask.
  for (let k = 0; k < 15; k++) {
    get(MID);
    code.push(F32_LOAD, 2, ...uleb(4 * k));
    simd(S.F32X4_SPLAT);
    set(M[k]!);
  }
  get(ORD);
  simd(S.V128_LOAD, 0, 0);
  set(ORDER);
  vconst(Array(4).fill(f32Bytes(1)).flat());
  set(ONE);
  vconst(Array(4).fill(f32Bytes(-1)).flat());
  set(NEG1);
  vconst(Array(8).fill([0xff, 0x00]).flat());
  set(MASK);
  code.push(LOOP, VOID);
  {
    // END_PTR = VAL + 4 * BS
    get(VAL);
    get(BS);
    i32(2);
    code.push(0x74); // i32.shl
    code.push(I32_ADD);
    set(END_PTR);
    // Pass 1: absmax (f32x4.max propagates NaN, so a non-finite block shows in its absmax).
    vconst(Array(16).fill(0));
    set(MXV);
    get(VAL);
    set(P);
    code.push(LOOP, VOID);
    {
      get(MXV);
      get(P);
      simd(S.V128_LOAD, 0, 0);
      simd(S.F32X4_ABS);
      simd(S.F32X4_MAX);
      set(MXV);
      get(P);
      i32(16);
      code.push(I32_ADD, LOCAL_TEE, ...uleb(P));
      get(END_PTR);
      code.push(I32_NE, BR_IF, 0);
    }
    code.push(END);
    for (const lane of [0, 1, 2, 3]) {
      get(MXV);
      simd(S.F32X4_EXTRACT_LANE, lane);
      if (lane > 0) code.push(F32_MAX);
    }
    set(MX);
    get(AM);
    get(MX);
    code.push(F32_STORE, 2, 0);
    // inv = f32(1 / max(absmax, 1e-38))
    code.push(0x43, ...f32Bytes(1)); // f32.const 1
    get(MX);
    code.push(0x43, ...f32Bytes(1e-38));
    code.push(F32_MAX, F32_DIV);
    set(INV);
    get(INV);
    simd(S.F32X4_SPLAT);
    set(INVV);
    // Pass 2: 32 values -> 16 bytes per iteration.
    get(VAL);
    set(P);
    code.push(LOOP, VOID);
    {
      // Four groups of four values at a time, interleaved so their counts are independent chains.
      for (const groups of [[0, 1, 2, 3], [4, 5, 6, 7]]) {
        for (const g of groups) {
          get(P);
          simd(S.V128_LOAD, 0, ...uleb(16 * g));
          get(INVV);
          simd(S.F32X4_MUL);
          get(NEG1);
          simd(S.F32X4_MAX);
          get(ONE);
          simd(S.F32X4_MIN);
          set(SV[g % 4]!);
          vconst(Array(16).fill(0));
          set(C[g]!);
        }
        for (let k = 0; k < 15; k++) {
          for (const g of groups) {
            get(C[g]!);
            get(M[k]!);
            get(SV[g % 4]!);
            simd(S.F32X4_LT); // midpoint < s: all ones (-1)
            simd(S.I32X4_SUB);
            set(C[g]!);
          }
        }
      }
      for (let w = 0; w < 4; w++) {
        get(C[2 * w]!);
        get(C[2 * w + 1]!);
        simd(S.I16X8_NARROW_I32X4_U);
        set(W[w]!);
      }
      // Counts of values 0..15 and 16..31 as bytes, then codes through the order table.
      for (const [half, into] of [[0, T0], [1, T1]] as const) {
        get(ORDER);
        get(W[2 * half]!);
        get(W[2 * half + 1]!);
        simd(S.I8X16_NARROW_I16X8_U);
        simd(S.SWIZZLE);
        set(into);
        // As i16 lanes k_even | k_odd << 8: byte = (k_even << 4) | k_odd in the low byte.
        get(into);
        i32(4);
        simd(S.I16X8_SHL);
        get(into);
        i32(8);
        simd(S.I16X8_SHR_U);
        simd(S.V128_OR);
        get(MASK);
        simd(S.V128_AND);
        set(into);
      }
      get(PK);
      get(T0);
      get(T1);
      simd(S.I8X16_NARROW_I16X8_U);
      simd(S.V128_STORE, 0, 0);
      get(PK);
      i32(16);
      code.push(I32_ADD);
      set(PK);
      get(P);
      i32(128);
      code.push(I32_ADD, LOCAL_TEE, ...uleb(P));
      get(END_PTR);
      code.push(I32_NE, BR_IF, 0);
    }
    code.push(END);
    get(END_PTR);
    set(VAL);
    get(AM);
    i32(4);
    code.push(I32_ADD);
    set(AM);
    get(NB);
    i32(1);
    code.push(I32_SUB, LOCAL_TEE, ...uleb(NB));
    code.push(BR_IF, 0);
  }
  code.push(END);
  return singleFunctionModule("quant", 7, [[2, I32], [2, F32], [next - 11, V128]], code);
}

/** The kernel (compiled on first use). */
export const QUANT_KERNEL = new WasmKernel("quant", kernelBytes);

/** Values staged per kernel call (1 MiB of float32). */
const CHUNK_VALUES = 1 << 18;

/**
 * Quantizes the first `fullBlocks` blocks of `values` with the SIMD kernel (where {@link QUANT_KERNEL} is available) into `packed` and
 * `absmax`. The caller rejects non-finite blocks (their absmax is NaN or Infinity) and rewrites
 * all-zero blocks; `midpoints` (15 float32) and `order` (16 codes) come from prepareCodeSearch.
 */
export function quantizeFullBlocksSimd(values: Float32Array, blocksize: number, fullBlocks: number, midpoints: Float32Array, order: Uint8Array, packed: Uint8Array, absmax: Float32Array): void {
  if (fullBlocks === 0) return;
  const chunkBlocks = Math.max(1, Math.floor(CHUNK_VALUES / blocksize));
  const chunkValues = Math.min(chunkBlocks, fullBlocks) * blocksize;
  // Layout: [values chunk | midpoints | order | all packed bytes | all absmax]; outputs leave in one copy each
  // (V8 copies out of WebAssembly memory slowly in small pieces).
  const midAt = align16(chunkValues * 4);
  const orderAt = midAt + 64;
  const packedAt = orderAt + 16;
  const absmaxAt = packedAt + align16((fullBlocks * blocksize) / 2);
  const total = absmaxAt + fullBlocks * 4;
  const memory = new (wasmApi()!).Memory({ initial: Math.ceil(total / 65536) });
  const quant = QUANT_KERNEL.instantiate(memory);
  const heapF32 = new Float32Array(memory.buffer);
  heapF32.set(midpoints, midAt / 4);
  new Uint8Array(memory.buffer).set(order, orderAt);
  for (let b0 = 0; b0 < fullBlocks; b0 += chunkBlocks) {
    const blocks = Math.min(chunkBlocks, fullBlocks - b0);
    heapF32.set(values.subarray(b0 * blocksize, (b0 + blocks) * blocksize), 0);
    quant(0, packedAt + (b0 * blocksize) / 2, absmaxAt + 4 * b0, midAt, orderAt, blocks, blocksize);
  }
  packed.set(new Uint8Array(memory.buffer, packedAt, (fullBlocks * blocksize) / 2));
  absmax.set(new Float32Array(memory.buffer, absmaxAt, fullBlocks));
}
