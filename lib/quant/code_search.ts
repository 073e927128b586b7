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
