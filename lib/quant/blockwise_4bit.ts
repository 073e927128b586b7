// Blockwise 4-bit quantization and dequantization with bitsandbytes' exact rules (its default/CPU
// backend): float32 arithmetic, per-block absmax, nearest code by midpoints, two codes per byte.
import { InvalidArgumentError, TensorError, expected } from "../errors.js";
import { prepareCodeSearch } from "./code_search.js";
import { QUANT_KERNEL, quantizeFullBlocksSimd } from "./quant_simd.js";

/** Block sizes bitsandbytes accepts for 4-bit quantization. */
export const BLOCKSIZES: readonly number[] = [32, 64, 128, 256, 512, 1024, 2048, 4096];

/** Throws unless `blocksize` is a power of two in 32..4096. */
export function validateBlocksize(blocksize: number, where: string): void {
  if (!BLOCKSIZES.includes(blocksize)) {
    throw new InvalidArgumentError(where, expected(`a blocksize in ${BLOCKSIZES.join(", ")}`, blocksize, "bitsandbytes supports powers of two from 32 to 4096; 64 is QLoRA's choice."));
  }
}

/** Packed 4-bit codes and the float32 absmax of each block. */
export interface Packed4bit {
  /** Two codes per byte, the first element in the high nibble; `ceil(n / 2)` bytes. */
  packed: Uint8Array;
  /** max |x| per block, `ceil(n / blocksize)` values. */
  absmax: Float32Array;
}

/** Options of {@link quantizeBlockwise4bit}. */
export interface Blockwise4bitOptions {
  /** The 16 code values (index = code). */
  code: Float32Array;
  blocksize: number;
  /** Byte written for an all-zero block (its absmax is 0, so any byte reads back as 0). */
  zeroBlockByte: number;
  /** Tensor name for error messages. */
  name?: string;
}

const F32_TINY = Math.fround(1e-38);

/**
 * Quantizes n float32 values. Full blocks use `s = clamp(f32(x * f32(1 / max(absmax, 1e-38))), -1, 1)`;
 * the tail block uses division `x / absmax`; the code is the number of float32 midpoints strictly
 * below s (a tie takes the lower code), mapped back through the sorted order; an odd n is padded
 * with one 0.0. Full blocks run in the WebAssembly SIMD kernel of quant_simd.ts where available (same
 * bytes), the tail block and code books here. Throws a TensorError naming the block on NaN or Inf.
 */
export function quantizeBlockwise4bit(values: Float32Array, options: Blockwise4bitOptions): Packed4bit {
  const { code, blocksize, zeroBlockByte } = options;
  const where = "quantizeBlockwise4bit";
  validateBlocksize(blocksize, where);
  const n = values.length;
  const blocks = Math.ceil(n / blocksize);
  const packed = new Uint8Array(Math.ceil(n / 2));
  const absmax = new Float32Array(blocks);
  const { midpoints, order } = prepareCodeSearch(code, where);
  if (midpoints.length !== 15) throw new InvalidArgumentError(where, expected("a 16-entry code book", `${code.length} entries`));
  const f32 = Math.fround;
  const fullBlocks = Math.floor(n / blocksize);
  let firstBlock = 0;
  if (fullBlocks > 0 && QUANT_KERNEL.available()) {
    quantizeFullBlocksSimd(values, blocksize, fullBlocks, midpoints, order, packed, absmax);
    let finite = true;
    for (let b = 0; b < fullBlocks; b++) {
      const mx = absmax[b]!;
      if (mx === 0) packed.fill(zeroBlockByte, (b * blocksize) >> 1, ((b + 1) * blocksize) >> 1);
      else if (!(mx < Infinity)) finite = false;
    }
    // A NaN or Inf: redo the blocks below to throw the error that names the element.
    firstBlock = finite ? fullBlocks : 0;
  }
  const cells = buildCells(midpoints, order);
  for (let b = firstBlock; b < blocks; b++) {
    const start = b * blocksize;
    const end = Math.min(start + blocksize, n);
    let mx = 0;
    for (let j = start; j < end; j++) {
      const a = Math.abs(values[j]!);
      if (!(a <= mx)) {
        if (a !== a || a === Infinity) throw nonFinite(options.name, values[j]!, j, b, blocksize);
        mx = a;
      }
    }
    absmax[b] = mx;
    if (mx === 0) {
      // bitsandbytes' CPU backend writes the code of 0.0 here; its CUDA kernel writes 0x00.
      packed.fill(zeroBlockByte, start >> 1, (end + 1) >> 1);
      continue;
    }
    if (b < fullBlocks) packFullBlock(values, packed, start, end, f32(1 / (mx > F32_TINY ? mx : F32_TINY)), cells);
    else packTailBlock(values, packed, start, end, mx, cells);
  }
  return { packed, absmax };
}

/**
 * Dequantizes packed codes: `out[j] = f32(code[nibble_j] * absmax[floor(j / blocksize)])`. Each block
 * first scales the 16 code values once, then copies their float32 bit patterns (Int32Array views),
 * so the inner loop is two table loads and two stores per byte.
 */
export function dequantizeBlockwise4bit(packed: Uint8Array, absmax: Float32Array, code: Float32Array, blocksize: number, n: number, out?: Float32Array): Float32Array {
  const where = "dequantizeBlockwise4bit";
  validateBlocksize(blocksize, where);
  const blocks = Math.ceil(n / blocksize);
  if (packed.length !== Math.ceil(n / 2)) throw new TensorError(where, expected(`${Math.ceil(n / 2)} packed bytes for ${n} values`, `${packed.length}`));
  if (absmax.length !== blocks) throw new TensorError(where, expected(`${blocks} absmax values`, `${absmax.length}`));
  const result = out ?? new Float32Array(n);
  if (result.length !== n) throw new InvalidArgumentError(where, expected(`an output of ${n} values`, `${result.length}`));
  const table = new Float32Array(16);
  const tableBits = new Int32Array(table.buffer);
  const outBits = new Int32Array(result.buffer, result.byteOffset, n);
  const half = blocksize >> 1;
  const fullPairs = n >> 1; // bytes holding two real values
  for (let b = 0; b < blocks; b++) {
    const scale = absmax[b]!;
    for (let c = 0; c < 16; c++) table[c] = code[c]! * scale; // exact product, one float32 rounding
    const first = b * half;
    const last = Math.min(first + half, fullPairs);
    let j = first << 1;
    for (let i = first; i < last; i++, j += 2) {
      const byte = packed[i]!;
      outBits[j] = tableBits[byte >> 4]!;
      outBits[j + 1] = tableBits[byte & 15]!;
    }
  }
  if (n & 1) result[n - 1] = code[packed[n >> 1]! >> 4]! * absmax[blocks - 1]!;
  return result;
}

/**
 * A lookup that replaces the binary search: s in [-1, 1] falls in one of CELLS + 1 equal cells;
 * every midpoint in a lower cell is below s, every one in a higher cell is above it, so the code is
 * `base[c]`, or the next code when the (at most one) midpoint inside cell c is below s. Code books
 * whose midpoints are closer than a cell fall back to counting midpoints one by one.
 */
interface Cells {
  /** Code (already mapped through the sorted order) when s is not above the cell's midpoint. */
  low: Uint8Array;
  /** Code when s is above the cell's midpoint. */
  high: Uint8Array;
  /** The midpoint inside each cell, or +Infinity. */
  mid: Float32Array;
  /** Set when some cell holds two midpoints: use `midpoints` directly. */
  midpoints: Float32Array | null;
  order: Uint8Array;
}

const CELLS = 4096;
const HALF_CELLS = CELLS / 2;

function cellOf(s: number): number {
  return ((s + 1) * HALF_CELLS) | 0; // monotone in s; 0..CELLS for s in [-1, 1]
}

function buildCells(midpoints: Float32Array, order: Uint8Array): Cells {
  const low = new Uint8Array(CELLS + 1);
  const high = new Uint8Array(CELLS + 1);
  const mid = new Float32Array(CELLS + 1).fill(Infinity);
  let crowded = false;
  const base = new Uint8Array(CELLS + 1);
  for (const m of midpoints) {
    if (m < -1 || m >= 1) {
      // Outside [-1, 1): every s (clamped) is on one side of it.
      if (m < -1) for (let c = 0; c <= CELLS; c++) base[c]!++;
      continue;
    }
    const c = cellOf(m);
    if (mid[c] !== Infinity) crowded = true;
    mid[c] = m;
    for (let d = c + 1; d <= CELLS; d++) base[d]!++;
  }
  for (let c = 0; c <= CELLS; c++) {
    low[c] = order[base[c]!]!;
    high[c] = order[Math.min(base[c]! + 1, order.length - 1)]!;
  }
  return { low, high, mid, midpoints: crowded ? midpoints : null, order };
}

function codeOf(s: number, cells: Cells): number {
  if (cells.midpoints) {
    let k = 0;
    const m = cells.midpoints;
    while (k < m.length && m[k]! < s) k++;
    return cells.order[k]!;
  }
  const c = cellOf(s);
  return cells.mid[c]! < s ? cells.high[c]! : cells.low[c]!;
}

/** A full block: reciprocal multiply, as bitsandbytes. Blocks are even-sized, so bytes never straddle. */
function packFullBlock(values: Float32Array, packed: Uint8Array, start: number, end: number, inv: number, cells: Cells): void {
  const f32 = Math.fround;
  if (cells.midpoints) {
    for (let j = start; j < end; j += 2) packed[j >> 1] = (codeOf(clamp(f32(values[j]! * inv)), cells) << 4) | codeOf(clamp(f32(values[j + 1]! * inv)), cells);
    return;
  }
  const { low, high, mid } = cells;
  for (let j = start; j < end; j += 2) {
    let s0 = f32(values[j]! * inv);
    let s1 = f32(values[j + 1]! * inv);
    s0 = s0 > 1 ? 1 : s0 < -1 ? -1 : s0;
    s1 = s1 > 1 ? 1 : s1 < -1 ? -1 : s1;
    const c0 = ((s0 + 1) * HALF_CELLS) | 0;
    const c1 = ((s1 + 1) * HALF_CELLS) | 0;
    const k0 = mid[c0]! < s0 ? high[c0]! : low[c0]!;
    const k1 = mid[c1]! < s1 ? high[c1]! : low[c1]!;
    packed[j >> 1] = (k0 << 4) | k1;
  }
}

/** The tail block: division by absmax, as bitsandbytes; an odd length pads one 0.0. */
function packTailBlock(values: Float32Array, packed: Uint8Array, start: number, end: number, mx: number, cells: Cells): void {
  const f32 = Math.fround;
  for (let j = start; j < end; j += 2) {
    const k0 = codeOf(clamp(f32(values[j]! / mx)), cells);
    const k1 = codeOf(j + 1 < end ? clamp(f32(values[j + 1]! / mx)) : 0, cells);
    packed[j >> 1] = (k0 << 4) | k1;
  }
}

function clamp(s: number): number {
  return s > 1 ? 1 : s < -1 ? -1 : s;
}

function nonFinite(name: string | undefined, value: number, index: number, block: number, blocksize: number): TensorError {
  const what = name ? `tensor "${name}"` : "the tensor";
  return new TensorError("quantize4bit", expected(`finite values in ${what}`, `${value} at element ${index} (block ${block} of size ${blocksize})`, "Quantization scales each block by its absmax; fix or mask the non-finite values first."));
}
