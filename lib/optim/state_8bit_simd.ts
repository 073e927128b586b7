// WebAssembly SIMD kernels for 8-bit blockwise optimizer state (blocks of 256 on bitsandbytes' dynamic
// maps), assembled with lib/quant's assembler. quantize: per-block absmax (f32x4.abs/max), then
// s = clamp(f32(x * f32(1 / absmax)), -1, 1) and its code through lib/quant's cell index over the
// float32 bits of s, gathered lane by lane from one table; dequantize: f32(map[code] * absmax).
// Both reproduce lib/quant/dynamic_map.ts's scalar functions bit for bit (tests compare them), at about
// 2 ns per value quantized and 0.5-1 ns dequantized (the scalar functions: ~28 and ~7 ns).
import { CELL_HALF, CELL_LOW_BITS, CELL_SHIFT, buildCellIndex, prepareCodeSearch } from "../quant/code_search.js";
import { OP, SIMD_OP, F32, I32, V128, singleFunctionModule, sleb, uleb, type WasmMemory } from "../ops/wasm_asm.js";
import { WasmKernel } from "../ops/wasm_kernel.js";

/** Values per block the kernels handle (a multiple of 16). */
export const KERNEL_BLOCK = 256;

/** Opcodes beyond lib/quant's tables. */
const OP_MORE = { I32_SHL: 0x74, F32_CONST: 0x43, F32_EQ: 0x5b, SELECT: 0x1b } as const;
const SIMD_MORE = {
  I32X4_EXTRACT_LANE: 0x1b, V128_XOR: 0x51, V128_LOAD32_LANE: 0x56, V128_LOAD64_LANE: 0x57,
  I16X8_EXTEND_LOW_I8X16_U: 0x89, I16X8_EXTEND_HIGH_I8X16_U: 0x8a,
  I32X4_EXTEND_LOW_I16X8_U: 0xa9, I32X4_EXTEND_HIGH_I16X8_U: 0xaa,
  I32X4_SHL: 0xab, I32X4_SHR_S: 0xac, I32X4_SHR_U: 0xad, I32X4_ADD: 0xae, I32X4_MAX_S: 0xb8,
  F32X4_PMIN: 0xea, F32X4_PMAX: 0xeb,
} as const;

/** Bytes of one cell-table entry: i32 code when s is at or below the cell's midpoint (the code above is the next), f32 midpoint. */
const ENTRY_BYTES = 8;
/** Cells of the table (both signs). */
const CELLS = 2 * CELL_HALF;
/** Bytes of one map's cell table. */
export const CELL_TABLE_BYTES = CELLS * ENTRY_BYTES;

/** A function body under construction, with the instruction emitters the two kernels share. */
class Body {
  readonly code: number[] = [];
  get(l: number): void {
    this.code.push(OP.LOCAL_GET, ...uleb(l));
  }
  set(l: number): void {
    this.code.push(OP.LOCAL_SET, ...uleb(l));
  }
  tee(l: number): void {
    this.code.push(OP.LOCAL_TEE, ...uleb(l));
  }
  i32(x: number): void {
    this.code.push(OP.I32_CONST, ...sleb(x));
  }
  f32(x: number): void {
    this.code.push(OP_MORE.F32_CONST, ...new Uint8Array(new Float32Array([x]).buffer));
  }
  simd(op: number, ...imm: number[]): void {
    this.code.push(OP.SIMD, ...uleb(op), ...imm);
  }
  /** v128.const of four i32 (or f32) lanes. */
  splat(x: number, float = false): void {
    const lanes = float ? new Float32Array([x, x, x, x]) : new Int32Array([x, x, x, x]);
    this.simd(SIMD_OP.V128_CONST, ...new Uint8Array(lanes.buffer));
  }
  /** `ptr += step` (i32 local). */
  advance(ptr: number, step: number): void {
    this.get(ptr);
    this.i32(step);
    this.code.push(OP.I32_ADD);
    this.set(ptr);
  }
  /** Closes a loop body: `ptr += step`, and loops again while ptr != end. */
  stepUntil(ptr: number, step: number, end: number): void {
    this.get(ptr);
    this.i32(step);
    this.code.push(OP.I32_ADD);
    this.tee(ptr);
    this.get(end);
    this.code.push(OP.I32_NE, OP.BR_IF, 0);
  }
  /** Closes a loop body: `count -= 1`, and loops again while count != 0. */
  countDown(count: number): void {
    this.get(count);
    this.i32(1);
    this.code.push(OP.I32_SUB);
    this.tee(count);
    this.code.push(OP.BR_IF, 0);
  }
  /** Gathers lane by lane: for each lane of the i32x4 in `addrs`, loads 4 bytes at addr + offset into that lane of `into`. */
  gather(addrs: number, addr: number, into: number, offset: number): void {
    for (let lane = 0; lane < 4; lane++) {
      this.get(addrs);
      this.simd(SIMD_MORE.I32X4_EXTRACT_LANE, lane);
      this.set(addr);
      this.get(addr);
      this.get(into);
      this.simd(SIMD_MORE.V128_LOAD32_LANE, 0, ...uleb(offset), lane);
      this.set(into);
    }
  }
}

/**
 * `quant8(values, codes, absmax, table, blocks)`: for each block of 256 float32 values, absmax[b] =
 * max |x| (NaN when the block holds one; the caller redoes non-finite blocks) and 256 codes from the
 * cell table (CELLS entries at `table`, see {@link writeCellTable}).
 */
function quantBytes(): Uint8Array {
  const [VAL, CODES, ABSMAX, TABLE, BLOCKS] = [0, 1, 2, 3, 4];
  const [END_PTR, P] = [5, 6];
  const MX = 7;
  let next = 8;
  const v = () => next++;
  const [MXV, INVV, S, OFF, LO, MD, MID, ABS_MASK, LOW, ZERO, NEG1F, ONEF, BASE] = Array.from({ length: 13 }, v);
  const C = [v(), v(), v(), v()];
  const b = new Body();
  const { code } = b;
  const S_ = SIMD_OP;
  const M = SIMD_MORE;
  // LOW is lowered by one cell (the "+ 1" of cellOfBits); BASE = table + HALF * ENTRY_BYTES.
  for (const [local, value, float] of [[ABS_MASK, 0x7fffffff], [LOW, CELL_LOW_BITS - (1 << CELL_SHIFT)], [ZERO, 0], [NEG1F, -1, true], [ONEF, 1, true]] as const) {
    b.splat(value, float);
    b.set(local);
  }
  b.get(TABLE);
  b.i32(CELL_HALF * ENTRY_BYTES);
  code.push(OP.I32_ADD);
  b.simd(S_.I32X4_SPLAT);
  b.set(BASE);
  code.push(OP.LOOP, OP.VOID);
  {
    b.get(VAL);
    b.i32(4 * KERNEL_BLOCK);
    code.push(OP.I32_ADD);
    b.set(END_PTR);
    // Pass 1: absmax (f32x4.max propagates NaN, so a NaN in the block shows in its absmax).
    b.splat(0);
    b.set(MXV);
    b.get(VAL);
    b.set(P);
    code.push(OP.LOOP, OP.VOID);
    {
      b.get(MXV);
      b.get(P);
      b.simd(S_.V128_LOAD, 0, 0);
      b.simd(S_.F32X4_ABS);
      b.simd(S_.F32X4_MAX);
      b.set(MXV);
      b.stepUntil(P, 16, END_PTR);
    }
    code.push(OP.END);
    for (const lane of [0, 1, 2, 3]) {
      b.get(MXV);
      b.simd(S_.F32X4_EXTRACT_LANE, lane);
      if (lane > 0) code.push(OP.F32_MAX);
    }
    b.set(MX);
    b.get(ABSMAX);
    b.get(MX);
    code.push(OP.F32_STORE, 2, 0);
    // inv = absmax == 0 ? 0 : f32(1 / absmax); an all-zero block then scales to +-0, whose code is the code of 0.
    b.f32(0);
    b.f32(1);
    b.get(MX);
    code.push(OP.F32_DIV);
    b.get(MX);
    b.f32(0);
    code.push(OP_MORE.F32_EQ, OP_MORE.SELECT);
    b.simd(S_.F32X4_SPLAT);
    b.set(INVV);
    // Pass 2: 16 values -> 16 codes per iteration.
    b.get(VAL);
    b.set(P);
    code.push(OP.LOOP, OP.VOID);
    {
      for (let g = 0; g < 4; g++) {
        // s = clamp(x * inv): pmax/pmin keep the sign of -0 as max/min do and turn a NaN into -1,
        // so a non-finite block (redone by the caller) never indexes outside the table.
        b.get(NEG1F);
        b.get(P);
        b.simd(S_.V128_LOAD, 0, ...uleb(16 * g));
        b.get(INVV);
        b.simd(S_.F32X4_MUL);
        b.simd(M.F32X4_PMAX);
        b.get(ONEF);
        b.simd(M.F32X4_PMIN);
        b.tee(S);
        // cell = HALF + (max(((|bits| - LOW) >> SHIFT) + 1, 0) ^ (bits >> 31)), as cellOfBits; entry at table + 8 cell.
        b.get(ABS_MASK);
        b.simd(S_.V128_AND);
        b.get(LOW);
        b.simd(S_.I32X4_SUB);
        b.i32(CELL_SHIFT);
        b.simd(M.I32X4_SHR_S);
        b.get(ZERO);
        b.simd(M.I32X4_MAX_S);
        b.get(S);
        b.i32(31);
        b.simd(M.I32X4_SHR_S);
        b.simd(M.V128_XOR);
        b.i32(3); // * ENTRY_BYTES
        b.simd(M.I32X4_SHL);
        b.get(BASE);
        b.simd(M.I32X4_ADD);
        b.set(OFF);
        // One 8-byte entry per lane (lanes 0-1 into LO, 2-3 into MD), then split into codes and midpoints:
        // four 64-bit lane loads and two shuffles ran 5 % faster than eight 32-bit lane loads.
        for (let lane = 0; lane < 4; lane++) {
          const into = lane < 2 ? LO : MD;
          b.get(OFF);
          b.simd(M.I32X4_EXTRACT_LANE, lane);
          b.get(into);
          b.simd(M.V128_LOAD64_LANE, 0, 0, lane % 2);
          b.set(into);
        }
        b.get(LO);
        b.get(MD);
        b.simd(S_.SHUFFLE, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
        b.set(MID);
        // code = lower - (midpoint < s ? -1 : 0): the code above a midpoint is the next one.
        b.get(LO);
        b.get(MD);
        b.simd(S_.SHUFFLE, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
        b.get(MID);
        b.get(S);
        b.simd(S_.F32X4_LT);
        b.simd(S_.I32X4_SUB);
        b.set(C[g]!);
      }
      b.get(CODES);
      b.get(C[0]!);
      b.get(C[1]!);
      b.simd(S_.I16X8_NARROW_I32X4_U);
      b.get(C[2]!);
      b.get(C[3]!);
      b.simd(S_.I16X8_NARROW_I32X4_U);
      b.simd(S_.I8X16_NARROW_I16X8_U);
      b.simd(S_.V128_STORE, 0, 0);
      b.advance(CODES, 16);
      b.stepUntil(P, 64, END_PTR);
    }
    code.push(OP.END);
    b.get(END_PTR);
    b.set(VAL);
    b.advance(ABSMAX, 4);
    b.countDown(BLOCKS);
  }
  code.push(OP.END);
  return singleFunctionModule("quant8", 5, [[2, I32], [1, F32], [next - 8, V128]], code);
}

/** `dequant8(codes, absmax, out, map, blocks)`: out[j] = f32(map[codes[j]] * absmax[block of j]) for 256-value blocks. */
function dequantBytes(): Uint8Array {
  const [CODES, ABSMAX, OUT, MAP, BLOCKS] = [0, 1, 2, 3, 4];
  const [END_PTR, ADDR] = [5, 6];
  let next = 7;
  const v = () => next++;
  const [SC, BYTES, H, OFF, F, MAPV] = Array.from({ length: 6 }, v);
  const b = new Body();
  const { code } = b;
  const S_ = SIMD_OP;
  const M = SIMD_MORE;
  b.get(MAP);
  b.simd(S_.I32X4_SPLAT);
  b.set(MAPV);
  code.push(OP.LOOP, OP.VOID);
  {
    b.get(ABSMAX);
    code.push(OP.F32_LOAD, 2, 0);
    b.simd(S_.F32X4_SPLAT);
    b.set(SC);
    b.get(OUT);
    b.i32(4 * KERNEL_BLOCK);
    code.push(OP.I32_ADD);
    b.set(END_PTR);
    code.push(OP.LOOP, OP.VOID);
    {
      b.get(CODES);
      b.simd(S_.V128_LOAD, 0, 0);
      b.set(BYTES);
      for (let half = 0; half < 2; half++) {
        b.get(BYTES);
        b.simd(half === 0 ? M.I16X8_EXTEND_LOW_I8X16_U : M.I16X8_EXTEND_HIGH_I8X16_U);
        b.set(H);
        for (let quarter = 0; quarter < 2; quarter++) {
          b.get(H);
          b.simd(quarter === 0 ? M.I32X4_EXTEND_LOW_I16X8_U : M.I32X4_EXTEND_HIGH_I16X8_U);
          b.i32(2);
          b.simd(M.I32X4_SHL);
          b.get(MAPV);
          b.simd(M.I32X4_ADD);
          b.set(OFF);
          b.gather(OFF, ADDR, F, 0);
          b.get(OUT);
          b.get(F);
          b.get(SC);
          b.simd(S_.F32X4_MUL);
          b.simd(S_.V128_STORE, 0, ...uleb(16 * (2 * half + quarter)));
        }
      }
      b.advance(CODES, 16);
      b.stepUntil(OUT, 64, END_PTR);
    }
    code.push(OP.END);
    b.advance(ABSMAX, 4);
    b.countDown(BLOCKS);
  }
  code.push(OP.END);
  return singleFunctionModule("dequant8", 5, [[2, I32], [next - 7, V128]], code);
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
