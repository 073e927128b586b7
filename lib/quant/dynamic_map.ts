// bitsandbytes' dynamic 8-bit data type (Dettmers 2016, arXiv 1511.04561; bitsandbytes
// functional.create_dynamic_map) and blockwise 8-bit quantization over it, used by double
// quantization of 4-bit scales and by 8-bit optimizer state.
import { InvalidArgumentError, expected } from "../errors.js";
import { requirePositiveInteger } from "../validate.js";
import { CELL_HALF, CELL_LOW_BITS, CELL_ONE_BITS, CELL_SHIFT, buildCellIndex, prepareCodeSearch, searchMidpoints } from "./code_search.js";

/** Parameters of {@link createDynamicMap}; the defaults give bitsandbytes' 256-entry maps. */
export interface DynamicMapOptions {
  /** Signed map (sign bit, range about [-0.993, 1]) or unsigned ([0, 1]). Default true. */
  signed?: boolean;
  /** Largest number of exponent bits. Default 7. */
  maxExponentBits?: number;
  /** Bits per code. Default 8. */
  totalBits?: number;
}

/**
 * Builds a dynamic quantization map exactly as bitsandbytes does in float32: for each exponent i,
 * the midpoints of `torch.linspace(0.1, 1, k)` (whose CPU kernel computes `start + step * j` with one
 * rounding) scaled by 10^(i - maxExponentBits + 1); then 0 and 1, zero padding to 256, sorted.
 */
export function createDynamicMap(options: DynamicMapOptions = {}): Float32Array {
  const signed = options.signed ?? true;
  const maxExponentBits = options.maxExponentBits ?? 7;
  const totalBits = options.totalBits ?? 8;
  if (!Number.isInteger(totalBits) || totalBits < 2 || totalBits > 8) throw new InvalidArgumentError("createDynamicMap", expected("totalBits in 2..8", totalBits));
  if (!Number.isInteger(maxExponentBits) || maxExponentBits < 1 || maxExponentBits > totalBits - 1) {
    throw new InvalidArgumentError("createDynamicMap", expected(`maxExponentBits in 1..${totalBits - 1}`, maxExponentBits));
  }
  const f32 = Math.fround;
  const nonSignBits = totalBits - 1;
  const additionalItems = 2 ** (nonSignBits - maxExponentBits) - 1;
  const data: number[] = [];
  const addMeans = (items: number, exponent: number) => {
    const bounds = linspaceF32(0.1, 1, items);
    // Python's 10 ** -k is the correctly rounded double; parsing "1e-k" gives the same number.
    const scale = f32(Number(`1e${exponent}`));
    for (let j = 0; j + 1 < bounds.length; j++) {
      const mean = f32(f32(bounds[j]! + bounds[j + 1]!) / 2);
      const value = f32(scale * mean);
      data.push(value);
      if (signed) data.push(-value);
    }
  };
  let i = 0;
  for (; i < maxExponentBits; i++) {
    const items = signed ? 2 ** (i + nonSignBits - maxExponentBits) + 1 : 2 ** (i + nonSignBits - maxExponentBits + 1) + 1;
    addMeans(items, -(maxExponentBits - 1) + i);
  }
  if (additionalItems > 0) addMeans(additionalItems + 1, -(maxExponentBits - 1) + (i - 1));
  data.push(0, 1);
  while (data.length < 256) data.push(0);
  data.sort((a, b) => a - b);
  return new Float32Array(data);
}

/** bitsandbytes' signed dynamic 8-bit map (256 sorted values in [-0.993, 1]); a fresh copy. */
export function signedDynamicMap(): Float32Array {
  return createDynamicMap({ signed: true });
}

/** bitsandbytes' unsigned dynamic 8-bit map (256 sorted values in [0, 1]); a fresh copy. */
export function unsignedDynamicMap(): Float32Array {
  return createDynamicMap({ signed: false });
}

/** Blockwise 8-bit codes and their per-block float32 absmax. */
export interface Blockwise8bit {
  /** One code (index into the map) per value. */
  codes: Uint8Array;
  /** max |x| of each block, `ceil(n / blocksize)` values. */
  absmax: Float32Array;
  blocksize: number;
}

/**
 * Quantizes values blockwise to 8-bit codes of a sorted 256-entry `map` as bitsandbytes' default
 * backend does: `absmax = max|x|`, `s = clamp(f32(x * f32(1 / absmax)), -1, 1)`, nearest code by
 * float32 midpoints (a tie takes the lower code). An all-zero block gets absmax 0 and the code of 0.
 * The nearest code is found through a cell index over the float32 bit pattern of s (see
 * {@link buildCellIndex}), exact for any sorted map. Pass `out` to reuse buffers (as an optimizer does every step).
 */
export function quantizeBlockwise8bit(values: Float32Array, map: Float32Array, blocksize: number, out?: { codes: Uint8Array; absmax: Float32Array }): Blockwise8bit {
  validateBlocksize("quantizeBlockwise8bit", blocksize);
  if (map.length !== 256) throw new InvalidArgumentError("quantizeBlockwise8bit", expected("a 256-entry map", `${map.length} entries`));
  const n = values.length;
  const blocks = Math.ceil(n / blocksize);
  const codes = out?.codes ?? new Uint8Array(n);
  const absmax = out?.absmax ?? new Float32Array(blocks);
  if (codes.length !== n || absmax.length !== blocks) {
    throw new InvalidArgumentError("quantizeBlockwise8bit", expected(`out buffers of ${n} codes and ${blocks} scales`, `${codes.length} and ${absmax.length}`));
  }
  const { midpoints, order } = prepareCodeSearch(map, "quantizeBlockwise8bit");
  const { first, cellMid, crowded } = buildCellIndex(midpoints);
  const zeroCode = order[searchMidpoints(midpoints, 0)]!;
  const nanCode = order[0]!; // no midpoint is below NaN
  // One block of scaled values, read back as float32 bit patterns to find their cells.
  const scaled = new Float32Array(Math.min(blocksize, n));
  const scaledBits = new Int32Array(scaled.buffer);
  for (let b = 0; b < blocks; b++) {
    const start = b * blocksize;
    const end = Math.min(start + blocksize, n);
    let m = 0;
    for (let j = start; j < end; j++) {
      const a = Math.abs(values[j]!);
      if (a > m) m = a;
    }
    absmax[b] = m;
    if (m === 0) {
      codes.fill(zeroCode, start, end);
      continue;
    }
    const inv = Math.fround(1 / m);
    const len = end - start;
    for (let i = 0; i < len; i++) scaled[i] = values[start + i]! * inv; // the store rounds to float32
    for (let i = 0; i < len; i++) {
      const bits = scaledBits[i]!;
      let a = bits & 0x7fffffff;
      let s = scaled[i]!;
      if (a > CELL_ONE_BITS) {
        if (a > 0x7f800000) {
          codes[start + i] = nanCode;
          continue;
        }
        a = CELL_ONE_BITS; // clamp to [-1, 1]
        s = bits < 0 ? -1 : 1;
      }
      // Branch-free cell (the sign and the size of s are unpredictable): see cellOfBits.
      const t = ((a - CELL_LOW_BITS) >> CELL_SHIFT) + 1;
      const c = CELL_HALF + ((t & ~(t >> 31)) ^ (bits >> 31));
      let k = first[c]!;
      if (crowded[c] === 0) {
        if (cellMid[c]! < s) k++;
      } else {
        const stop = first[c + 1]!;
        while (k < stop && midpoints[k]! < s) k++;
      }
      codes[start + i] = order[k]!;
    }
  }
  return { codes, absmax, blocksize };
}

/** Dequantizes blockwise 8-bit codes: `out[j] = f32(map[codes[j]] * absmax[floor(j / blocksize)])`. */
export function dequantizeBlockwise8bit(codes: Uint8Array, absmax: Float32Array, map: Float32Array, blocksize: number, out?: Float32Array): Float32Array {
  validateBlocksize("dequantizeBlockwise8bit", blocksize);
  const n = codes.length;
  const blocks = Math.ceil(n / blocksize);
  if (absmax.length !== blocks) throw new InvalidArgumentError("dequantizeBlockwise8bit", expected(`${blocks} scales for ${n} codes in blocks of ${blocksize}`, `${absmax.length}`));
  if (map.length !== 256) throw new InvalidArgumentError("dequantizeBlockwise8bit", expected("a 256-entry map", `${map.length} entries`));
  const result = out ?? new Float32Array(n);
  if (result.length !== n) throw new InvalidArgumentError("dequantizeBlockwise8bit", expected(`an output of ${n} values`, `${result.length}`));
  for (let b = 0; b < blocks; b++) {
    const scale = absmax[b]!;
    const end = Math.min((b + 1) * blocksize, n);
    // A product of two float32 values is exact in float64; the store rounds it once, as f32 math does.
    for (let j = b * blocksize; j < end; j++) result[j] = map[codes[j]!]! * scale;
  }
  return result;
}

function validateBlocksize(where: string, blocksize: number): void {
  requirePositiveInteger(where, "blocksize", blocksize);
}

/** float32 `torch.linspace(start, end, steps)` as its CPU kernel computes it (one rounding per value). */
function linspaceF32(start: number, end: number, steps: number): Float32Array {
  const f32 = Math.fround;
  const s = f32(start);
  const e = f32(end);
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  // step * j is exact in float64 (24-bit by <= 9-bit), so adding and rounding once is a fused multiply-add.
  for (let j = 0; j < steps; j++) out[j] = j < halfway ? s + step * j : e - step * (steps - j - 1);
  return out;
}
