// WebAssembly SIMD kernels for 8-bit blockwise optimizer state (blocks of 256 on bitsandbytes' dynamic
// maps), assembled with lib/ops' assembler. quantize: per-block absmax (f32x4.abs/max), then
// s = clamp(f32(x * f32(1 / absmax)), -1, 1) and its code through lib/quant's cell index over the
// float32 bits of s, gathered lane by lane from one table; dequantize: f32(map[code] * absmax).
// Both reproduce lib/quant/dynamic_map.ts's scalar functions bit for bit (tests compare them), at about
// 2 ns per value quantized and 0.5-1 ns dequantized (the scalar functions: ~28 and ~7 ns).
import { CELL_HALF, CELL_LOW_BITS, CELL_SHIFT, buildCellIndex, prepareCodeSearch } from "../quant/code_search.js";
import { F32, FunctionBuilder, I32, OP, SIMD_OP, V128, uleb, type WasmMemory } from "../ops/wasm_asm.js";

const S = SIMD_OP;
import { WasmKernel } from "../ops/wasm_kernel.js";

/** Values per block the kernels handle (a multiple of 16). */
export const KERNEL_BLOCK = 256;

/** Bytes of one cell-table entry: i32 code when s is at or below the cell's midpoint (the code above is the next), f32 midpoint. */
const ENTRY_BYTES = 8;
/** Cells of the table (both signs). */
const CELLS = 2 * CELL_HALF;
/** Bytes of one map's cell table. */
export const CELL_TABLE_BYTES = CELLS * ENTRY_BYTES;

/** Gathers lane by lane: for each lane of the i32x4 in `addrs`, loads 4 bytes at addr + offset into that lane of `into`. */
function gather(b: FunctionBuilder, addrs: number, addr: number, into: number, offset: number): void {
  for (let lane = 0; lane < 4; lane++) {
    b.get(addrs);
    b.simd(S.I32X4_EXTRACT_LANE, lane);
    b.set(addr);
    b.get(addr);
    b.get(into);
    b.simd(S.V128_LOAD32_LANE, 0, ...uleb(offset), lane);
    b.set(into);
  }
}

/**
 * `quant8(values, codes, absmax, table, blocks)`: for each block of 256 float32 values, absmax[b] =
 * max |x| (NaN when the block holds one; the caller redoes non-finite blocks) and 256 codes from the
 * cell table (CELLS entries at `table`, see {@link writeCellTable}).
 */
function quantBytes(exportName: string): Uint8Array {
  const b = new FunctionBuilder(5);
  const [VAL, CODES, ABSMAX, TABLE, BLOCKS] = [0, 1, 2, 3, 4];
  const [END_PTR, P] = b.locals(I32, 2);
  const MX = b.local(F32);
  const [MXV, INVV, SV, OFF, LO, MD, MID, ABS_MASK, LOW, ZERO, NEG1F, ONEF, BASE] = b.locals(V128, 13);
  const C = b.locals(V128, 4);
  // LOW is lowered by one cell (the "+ 1" of cellOfBits); BASE = table + HALF * ENTRY_BYTES.
  for (const [local, value, float] of [[ABS_MASK, 0x7fffffff], [LOW, CELL_LOW_BITS - (1 << CELL_SHIFT)], [ZERO, 0], [NEG1F, -1, true], [ONEF, 1, true]] as const) {
    b.splat(value, float);
    b.set(local);
  }
  b.get(TABLE);
  b.i32(CELL_HALF * ENTRY_BYTES);
  b.op(OP.I32_ADD);
  b.simd(S.I32X4_SPLAT);
  b.set(BASE);
  b.loop(() => {
    b.get(VAL);
    b.i32(4 * KERNEL_BLOCK);
    b.op(OP.I32_ADD);
    b.set(END_PTR);
    // Pass 1: absmax.
    b.blockAbsmax({ start: VAL, end: END_PTR, cursor: P, lanes: MXV, absmax: MX, at: ABSMAX });
    // inv = absmax == 0 ? 0 : f32(1 / absmax); an all-zero block then scales to +-0, whose code is the code of 0.
    b.f32(0);
    b.f32(1);
    b.get(MX);
    b.op(OP.F32_DIV);
    b.get(MX);
    b.f32(0);
    b.op(OP.F32_EQ, OP.SELECT);
    b.simd(S.F32X4_SPLAT);
    b.set(INVV);
    // Pass 2: 16 values -> 16 codes per iteration.
    b.get(VAL);
    b.set(P);
    b.loop(() => {
      for (let g = 0; g < 4; g++) {
        // s = clamp(x * inv): pmax/pmin keep the sign of -0 as max/min do and turn a NaN into -1,
        // so a non-finite block (redone by the caller) never indexes outside the table.
        b.get(NEG1F);
        b.get(P);
        b.simd(S.V128_LOAD, 0, ...uleb(16 * g));
        b.get(INVV);
        b.simd(S.F32X4_MUL);
        b.simd(S.F32X4_PMAX);
        b.get(ONEF);
        b.simd(S.F32X4_PMIN);
        b.tee(SV);
        // cell = HALF + (max(((|bits| - LOW) >> SHIFT) + 1, 0) ^ (bits >> 31)), as cellOfBits; entry at table + 8 cell.
        b.get(ABS_MASK);
        b.simd(S.V128_AND);
        b.get(LOW);
        b.simd(S.I32X4_SUB);
        b.i32(CELL_SHIFT);
        b.simd(S.I32X4_SHR_S);
        b.get(ZERO);
        b.simd(S.I32X4_MAX_S);
        b.get(SV);
        b.i32(31);
        b.simd(S.I32X4_SHR_S);
        b.simd(S.V128_XOR);
        b.i32(3); // * ENTRY_BYTES
        b.simd(S.I32X4_SHL);
        b.get(BASE);
        b.simd(S.I32X4_ADD);
        b.set(OFF);
        // One 8-byte entry per lane (lanes 0-1 into LO, 2-3 into MD), then split into codes and midpoints:
        // four 64-bit lane loads and two shuffles ran 5 % faster than eight 32-bit lane loads.
        for (let lane = 0; lane < 4; lane++) {
          const into = lane < 2 ? LO : MD;
          b.get(OFF);
          b.simd(S.I32X4_EXTRACT_LANE, lane);
          b.get(into);
          b.simd(S.V128_LOAD64_LANE, 0, 0, lane % 2);
          b.set(into);
        }
        b.get(LO);
        b.get(MD);
        b.simd(S.I8X16_SHUFFLE, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
        b.set(MID);
        // code = lower - (midpoint < s ? -1 : 0): the code above a midpoint is the next one.
        b.get(LO);
        b.get(MD);
        b.simd(S.I8X16_SHUFFLE, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
        b.get(MID);
        b.get(SV);
        b.simd(S.F32X4_LT);
        b.simd(S.I32X4_SUB);
        b.set(C[g]!);
      }
      b.get(CODES);
      b.get(C[0]!);
      b.get(C[1]!);
      b.simd(S.I16X8_NARROW_I32X4_U);
      b.get(C[2]!);
      b.get(C[3]!);
      b.simd(S.I16X8_NARROW_I32X4_U);
      b.simd(S.I8X16_NARROW_I16X8_U);
      b.simd(S.V128_STORE, 0, 0);
      b.add(CODES, 16);
      b.stepUntil(P, 64, END_PTR);
    });
    b.get(END_PTR);
    b.set(VAL);
    b.add(ABSMAX, 4);
    b.countDown(BLOCKS);
  });
  return b.module(exportName);
}

/** `dequant8(codes, absmax, out, map, blocks)`: out[j] = f32(map[codes[j]] * absmax[block of j]) for 256-value blocks. */
function dequantBytes(exportName: string): Uint8Array {
  const b = new FunctionBuilder(5);
  const [CODES, ABSMAX, OUT, MAP, BLOCKS] = [0, 1, 2, 3, 4];
  const [END_PTR, ADDR] = b.locals(I32, 2);
  const [SC, BYTES, H, OFF, F, MAPV] = b.locals(V128, 6);
  b.get(MAP);
  b.simd(S.I32X4_SPLAT);
  b.set(MAPV);
  b.loop(() => {
    b.get(ABSMAX);
    b.op(OP.F32_LOAD, 2, 0);
    b.simd(S.F32X4_SPLAT);
    b.set(SC);
    b.get(OUT);
    b.i32(4 * KERNEL_BLOCK);
    b.op(OP.I32_ADD);
    b.set(END_PTR);
    b.loop(() => {
      b.get(CODES);
      b.simd(S.V128_LOAD, 0, 0);
      b.set(BYTES);
      for (let half = 0; half < 2; half++) {
        b.get(BYTES);
        b.simd(half === 0 ? S.I16X8_EXTEND_LOW_I8X16_U : S.I16X8_EXTEND_HIGH_I8X16_U);
        b.set(H);
        for (let quarter = 0; quarter < 2; quarter++) {
          b.get(H);
          b.simd(quarter === 0 ? S.I32X4_EXTEND_LOW_I16X8_U : S.I32X4_EXTEND_HIGH_I16X8_U);
          b.i32(2);
          b.simd(S.I32X4_SHL);
          b.get(MAPV);
          b.simd(S.I32X4_ADD);
          b.set(OFF);
          gather(b, OFF, ADDR, F, 0);
          b.get(OUT);
          b.get(F);
          b.get(SC);
          b.simd(S.F32X4_MUL);
          b.simd(S.V128_STORE, 0, ...uleb(16 * (2 * half + quarter)));
        }
      }
      b.add(CODES, 16);
      b.stepUntil(OUT, 64, END_PTR);
    });
    b.add(ABSMAX, 4);
    b.countDown(BLOCKS);
  });
  return b.module(exportName);
}

/** The two kernels (compiled on first use). */
export const STATE_8BIT_KERNELS = { quant: new WasmKernel("quant8", quantBytes), dequant: new WasmKernel("dequant8", dequantBytes) } as const;

/** Whether both kernels run here (WebAssembly SIMD is available). */
export function state8bitKernelsAvailable(): boolean {
  return STATE_8BIT_KERNELS.quant.available() && STATE_8BIT_KERNELS.dequant.available();
}

/**
 * The quantizer's cell table of a 256-entry map, or null when the kernel cannot use it: some cell holds
 * two or more midpoints (the kernel reads one per cell; bitsandbytes' dynamic maps hold at most one),
 * or the code above a midpoint is not the code below plus one (the map is not sorted, or repeats a value).
 * Entry c: i32 the code when s is at or below the cell's midpoint, f32 the midpoint (+Infinity for a
 * cell without one), as the scalar quantizer's lookup.
 */
export function cellTable(map: Float32Array): Uint8Array | null {
  const { midpoints, order } = prepareCodeSearch(map, "cellTable");
  const { first, cellMid, crowded } = buildCellIndex(midpoints);
  if (crowded.some((c) => c !== 0)) return null;
  for (let k = 0; k < midpoints.length; k++) if (order[k + 1] !== order[k]! + 1) return null;
  const table = new Uint8Array(CELL_TABLE_BYTES);
  const words = new Int32Array(table.buffer);
  const floats = new Float32Array(table.buffer);
  for (let c = 0; c < CELLS; c++) {
    words[2 * c] = order[first[c]!]!;
    floats[2 * c + 1] = cellMid[c]!;
  }
  return table;
}

/** The kernels instantiated over one memory (instances are cheap; the memory decides where pointers point). */
export interface State8bitKernelInstance {
  quant8(values: number, codes: number, absmax: number, table: number, blocks: number): void;
  dequant8(codes: number, absmax: number, out: number, map: number, blocks: number): void;
}

/** Instantiates both kernels over `memory` (pointers in later calls are byte offsets into it). */
export function instantiateState8bitKernels(memory: WasmMemory): State8bitKernelInstance {
  return { quant8: STATE_8BIT_KERNELS.quant.instantiate(memory), dequant8: STATE_8BIT_KERNELS.dequant.instantiate(memory) };
}
