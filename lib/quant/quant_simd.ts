// A WebAssembly SIMD kernel for blockwise 4-bit quantization with bitsandbytes' exact rules, assembled
// here from its instructions. Per block: absmax with f32x4.abs/max, s = clamp(f32(x * f32(1 / absmax)));
// the code of s is the number of the 15 float32 midpoints strictly below it (15 vector compares per
// four values), mapped through the sorted order with i8x16.swizzle and packed two codes per byte.
import { F32, FunctionBuilder, I32, OP, SIMD_OP, V128, align16, uleb, wasmApi } from "../ops/wasm_asm.js";
import { WasmKernel } from "../ops/wasm_kernel.js";

const S = SIMD_OP;

/** The kernel's bytes: `quant(values, packed, absmax, midpoints, order, blocks, blocksize)` over an imported memory. */
function kernelBytes(exportName: string): Uint8Array {
  const b = new FunctionBuilder(7);
  const [VAL, PK, AM, MID, ORD, NB, BS] = [0, 1, 2, 3, 4, 5, 6];
  const [END_PTR, P] = b.locals(I32, 2);
  const [MX, INV] = b.locals(F32, 2);
  const M = b.locals(V128, 15);
  const [ORDER, ONE, NEG1, MASK, INVV, MXV] = b.locals(V128, 6);
  const SV = b.locals(V128, 4);
  const C = b.locals(V128, 8);
  const W = b.locals(V128, 4);
  const [T0, T1] = b.locals(V128, 2);
  // Constants: midpoint splats, the order table, +-1, the low-byte mask.
  for (let k = 0; k < 15; k++) {
    b.get(MID);
    b.op(OP.F32_LOAD, 2, ...uleb(4 * k));
    b.simd(S.F32X4_SPLAT);
    b.set(M[k]!);
  }
  b.get(ORD);
  b.simd(S.V128_LOAD, 0, 0);
  b.set(ORDER);
  b.splat(1, true);
  b.set(ONE);
  b.splat(-1, true);
  b.set(NEG1);
  b.v128(Array(8).fill([0xff, 0x00]).flat());
  b.set(MASK);
  b.loop(() => {
    // END_PTR = VAL + 4 * BS
    b.get(VAL);
    b.get(BS);
    b.i32(2);
    b.op(OP.I32_SHL, OP.I32_ADD);
    b.set(END_PTR);
    // Pass 1: absmax.
    b.blockAbsmax({ start: VAL, end: END_PTR, cursor: P, lanes: MXV, absmax: MX, at: AM });
    // inv = f32(1 / max(absmax, 1e-38))
    b.f32(1);
    b.get(MX);
    b.f32(1e-38);
    b.op(OP.F32_MAX, OP.F32_DIV);
    b.set(INV);
    b.get(INV);
    b.simd(S.F32X4_SPLAT);
    b.set(INVV);
    // Pass 2: 32 values -> 16 bytes per iteration.
    b.get(VAL);
    b.set(P);
    b.loop(() => {
      // Four groups of four values at a time, interleaved so their counts are independent chains.
      for (const groups of [[0, 1, 2, 3], [4, 5, 6, 7]]) {
        for (const g of groups) {
          b.get(P);
          b.simd(S.V128_LOAD, 0, ...uleb(16 * g));
          b.get(INVV);
          b.simd(S.F32X4_MUL);
          b.get(NEG1);
          b.simd(S.F32X4_MAX);
          b.get(ONE);
          b.simd(S.F32X4_MIN);
          b.set(SV[g % 4]!);
          b.v128(Array(16).fill(0));
          b.set(C[g]!);
        }
        for (let k = 0; k < 15; k++) {
          for (const g of groups) {
            b.get(C[g]!);
            b.get(M[k]!);
            b.get(SV[g % 4]!);
            b.simd(S.F32X4_LT); // midpoint < s: all ones (-1)
            b.simd(S.I32X4_SUB);
            b.set(C[g]!);
          }
        }
      }
      for (let w = 0; w < 4; w++) {
        b.get(C[2 * w]!);
        b.get(C[2 * w + 1]!);
        b.simd(S.I16X8_NARROW_I32X4_U);
        b.set(W[w]!);
      }
      // Counts of values 0..15 and 16..31 as bytes, then codes through the order table.
      for (const [half, into] of [[0, T0], [1, T1]] as const) {
        b.get(ORDER);
        b.get(W[2 * half]!);
        b.get(W[2 * half + 1]!);
        b.simd(S.I8X16_NARROW_I16X8_U);
        b.simd(S.I8X16_SWIZZLE);
        b.set(into);
        // As i16 lanes k_even | k_odd << 8: byte = (k_even << 4) | k_odd in the low byte.
        b.get(into);
        b.i32(4);
        b.simd(S.I16X8_SHL);
        b.get(into);
        b.i32(8);
        b.simd(S.I16X8_SHR_U);
        b.simd(S.V128_OR);
        b.get(MASK);
        b.simd(S.V128_AND);
        b.set(into);
      }
      b.get(PK);
      b.get(T0);
      b.get(T1);
      b.simd(S.I8X16_NARROW_I16X8_U);
      b.simd(S.V128_STORE, 0, 0);
      b.add(PK, 16);
      b.stepUntil(P, 128, END_PTR);
    });
    b.get(END_PTR);
    b.set(VAL);
    b.add(AM, 4);
    b.countDown(NB);
  });
  return b.module(exportName);
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
