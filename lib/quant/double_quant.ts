// Double quantization of 4-bit scales (QLoRA paper section 3, bitsandbytes compress_statistics):
// subtract the mean, quantize blockwise (256) to the signed dynamic 8-bit map, keep the offset.
import { InvalidArgumentError, expected } from "../errors.js";
import { dequantizeBlockwise8bit, quantizeBlockwise8bit, signedDynamicMap } from "./dynamic_map.js";

/** bitsandbytes' nested block size for double quantization. */
export const NESTED_BLOCKSIZE = 256;

/** The quantized scales: one byte per 4-bit block plus a float32 absmax per 256 of them. */
export interface NestedAbsmax {
  /** 8-bit codes of `absmax - offset`, one per 4-bit block. */
  codes: Uint8Array;
  /** max |absmax - offset| per nested block (`nested_absmax`). */
  nestedAbsmax: Float32Array;
  /** The 256-entry map the codes index (`nested_quant_map`). */
  nestedMap: Float32Array;
  /** float32 mean of the original absmax values (`nested_offset`). */
  offset: number;
  nestedBlocksize: number;
}

/** Quantizes per-block absmax values: `offset = f32(mean(absmax))`, then 8-bit blockwise on `absmax - offset`. */
export function doubleQuantize(absmax: Float32Array, options: { map?: Float32Array; nestedBlocksize?: number } = {}): NestedAbsmax {
  const nestedBlocksize = options.nestedBlocksize ?? NESTED_BLOCKSIZE;
  if (absmax.length === 0) throw new InvalidArgumentError("doubleQuantize", expected("at least one absmax value", 0));
  const nestedMap = options.map ?? signedDynamicMap();
  let sum = 0;
  for (let i = 0; i < absmax.length; i++) sum += absmax[i]!;
  const offset = Math.fround(sum / absmax.length);
  const centered = new Float32Array(absmax.length);
  for (let i = 0; i < absmax.length; i++) centered[i] = absmax[i]! - offset; // stored as f32: one rounding
  const q = quantizeBlockwise8bit(centered, nestedMap, nestedBlocksize);
  return { codes: q.codes, nestedAbsmax: q.absmax, nestedMap, offset, nestedBlocksize };
}

/** Rebuilds the scales as bitsandbytes does: `f32(f32(map[q] * nested_absmax[i / 256]) + offset)`. */
export function dequantizeAbsmax(nested: NestedAbsmax, out?: Float32Array): Float32Array {
  const result = dequantizeBlockwise8bit(nested.codes, nested.nestedAbsmax, nested.nestedMap, nested.nestedBlocksize, out);
  const offset = nested.offset;
  for (let i = 0; i < result.length; i++) result[i] = result[i]! + offset; // f32 + f32, one rounding on store
  return result;
}
