// Nearest-code search shared by the 4-bit and 8-bit quantizers: bitsandbytes' rule is "the code whose
// float32 midpoint interval holds s", with a value exactly on a midpoint taking the LOWER code.
import { InvalidArgumentError, expected } from "../errors.js";

/** A code book prepared for search: its values sorted, their original indices, and the midpoints. */
export interface CodeSearch {
  /** Code values in ascending order. */
  sorted: Float32Array;
  /** `order[k]` is the code (index into the unsorted book) of `sorted[k]`; the lowest such code for repeated values. */
  order: Uint8Array;
  /** `midpoints[k] = f32((sorted[k] + sorted[k + 1]) / 2)`, length `sorted.length - 1`. */
  midpoints: Float32Array;
}

/** Sorts a code book (stable, so equal values keep the lower code) and computes its float32 midpoints. */
export function prepareCodeSearch(code: ArrayLike<number>, where = "prepareCodeSearch"): CodeSearch {
  if (code.length < 2 || code.length > 256) throw new InvalidArgumentError(where, expected("a code book of 2 to 256 values", `${code.length} values`));
  const indices = Array.from({ length: code.length }, (_, i) => i);
  for (const i of indices) {
    if (!Number.isFinite(code[i]!)) throw new InvalidArgumentError(where, expected("finite code values", `code[${i}] = ${code[i]}`));
  }
  // Sort by value; -0 and 0 compare equal, so the stable sort keeps the lower index first.
  indices.sort((a, b) => code[a]! - code[b]! || a - b);
  const sorted = new Float32Array(indices.map((i) => code[i]!));
  const order = new Uint8Array(indices);
  // Equal values (FP4's 0 and -0, INT4's spare 0) all answer with the lowest code, as argmin does.
  for (let k = 1; k < order.length; k++) if (sorted[k] === sorted[k - 1]) order[k] = order[k - 1]!;
  const midpoints = new Float32Array(sorted.length - 1);
  // f32(a + b) / 2 equals f32((a + b) / 2): halving is exact, so one rounding either way.
  for (let k = 0; k < midpoints.length; k++) midpoints[k] = (sorted[k]! + sorted[k + 1]!) / 2;
  return { sorted, order, midpoints };
}

/** Index into `sorted` for s: the number of midpoints strictly below s (binary search). */
export function searchMidpoints(midpoints: Float32Array, s: number): number {
  let lo = 0;
  let hi = midpoints.length; // answer in [lo, hi]
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (midpoints[mid]! < s) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A lookup over the float32 bit pattern that replaces the binary search for large, non-uniform code
 * books (the dynamic 8-bit maps cluster near 0). The cell of s is monotone in s: one cell per sign for
 * |s| < 2^-32, then one per 1/128 of each binade up to |s| = 1 (4,098 cells a sign). `first[c]` is the
 * number of midpoints in lower cells, so the count of midpoints strictly below s is `first[c]` plus
 * those inside cell c that are below s (a short exact scan; usually zero or one).
 */
export interface CellIndex {
  /** `first[c]`: index of the first midpoint in cell c; length cells + 1. */
  first: Int32Array;
  /** The one midpoint inside cell c, or +Infinity when it holds none. */
  cellMid: Float32Array;
  /** 1 where cell c holds two or more midpoints (scan them), else 0. */
  crowded: Uint8Array;
}

/** Bits of 2^-32: magnitudes below share the innermost cell of their sign. */
export const CELL_LOW_BITS = 95 << 23;
/** Bits of 1.0, the largest magnitude a clamped s takes. */
export const CELL_ONE_BITS = 0x3f800000;
/** Mantissa bits dropped: 7 are kept, 128 cells per binade. */
export const CELL_SHIFT = 16;
/** Cells per sign. */
export const CELL_HALF = ((CELL_ONE_BITS - CELL_LOW_BITS) >>> CELL_SHIFT) + 2;

/** The cell of a float32 with bit pattern `bits` (any value; magnitudes above 1 share the outermost cell). */
export function cellOfBits(bits: number): number {
  const a = bits & 0x7fffffff;
  const mi = a < CELL_LOW_BITS ? 0 : Math.min(((a - CELL_LOW_BITS) >>> CELL_SHIFT) + 1, CELL_HALF - 1);
  return bits < 0 ? CELL_HALF - 1 - mi : CELL_HALF + mi;
}

/** Builds the cell index of sorted float32 midpoints (a -0 midpoint is bucketed as +0: both compare the same). */
export function buildCellIndex(midpoints: Float32Array): CellIndex {
  const cells = 2 * CELL_HALF;
  const first = new Int32Array(cells + 1);
  const bits = new Int32Array(1);
  const f = new Float32Array(bits.buffer);
  // Count midpoints per cell, then prefix-sum into first[].
  for (let k = 0; k < midpoints.length; k++) {
    f[0] = midpoints[k]! + 0; // -0 + 0 = +0
    first[cellOfBits(bits[0]!) + 1]!++;
  }
  const cellMid = new Float32Array(cells).fill(Infinity);
  const crowded = new Uint8Array(cells);
  for (let c = 0; c < cells; c++) {
    const count = first[c + 1]!;
    if (count === 1) cellMid[c] = midpoints[first[c]!]!;
    else if (count > 1) crowded[c] = 1;
    first[c + 1] = first[c]! + count;
  }
  return { first, cellMid, crowded };
}
