// Quantization error introspection for teaching and research: mean absolute / relative error (as
// bitsandbytes' tests define them), per-block error, the histogram of codes, and NF4 vs FP4 vs INT4.
import type { QuantType } from "./codebooks.js";
import { QUANT_TYPES } from "./codebooks.js";
import { quantize4bit, type Quantize4bitOptions, type QuantizedTensor } from "./quantized_tensor.js";

/** Error statistics of one quantization of one tensor. */
export interface QuantErrorReport {
  quantType: QuantType | "custom";
  blocksize: number;
  doubleQuant: boolean;
  /** mean |x - deq(q(x))|. */
  meanAbsError: number;
  /** mean |x - deq(q(x))| / |x + 1e-8| (bitsandbytes' relative error). */
  meanRelError: number;
  maxAbsError: number;
  rmse: number;
  /** Mean |error| of each block. */
  perBlockMeanAbs: Float32Array;
  /** Largest |error| of each block. */
  perBlockMaxAbs: Float32Array;
  /** How many values use each of the 16 codes (padding excluded). */
  codeHistogram: number[];
  bitsPerParam: number;
}

/** How many values use each code of a quantized tensor (the padding nibble of an odd length excluded). */
export function codeHistogram(q: QuantizedTensor): number[] {
  const counts = new Array<number>(16).fill(0);
  const { packed, size } = q;
  for (let i = 0; i < packed.length; i++) {
    counts[packed[i]! >> 4]!++;
    if (2 * i + 1 < size) counts[packed[i]! & 15]!++;
  }
  return counts;
}

/** Error statistics of an existing quantized tensor against the original values. */
export function errorOf(values: Float32Array, q: QuantizedTensor): QuantErrorReport {
  const y = q.dequantizeToArray();
  const blocks = Math.ceil(values.length / q.blocksize);
  const perBlockMeanAbs = new Float32Array(blocks);
  const perBlockMaxAbs = new Float32Array(blocks);
  let abs = 0;
  let rel = 0;
  let sq = 0;
  let max = 0;
  for (let b = 0; b < blocks; b++) {
    const end = Math.min((b + 1) * q.blocksize, values.length);
    let blockSum = 0;
    let blockMax = 0;
    for (let j = b * q.blocksize; j < end; j++) {
      const d = Math.abs(values[j]! - y[j]!);
      blockSum += d;
      if (d > blockMax) blockMax = d;
      rel += d / Math.abs(values[j]! + 1e-8);
      sq += d * d;
    }
    perBlockMeanAbs[b] = blockSum / (end - b * q.blocksize);
    perBlockMaxAbs[b] = blockMax;
    abs += blockSum;
    if (blockMax > max) max = blockMax;
  }
  const n = values.length;
  return {
    quantType: q.quantType,
    blocksize: q.blocksize,
    doubleQuant: q.doubleQuant,
    meanAbsError: abs / n,
    meanRelError: rel / n,
    maxAbsError: max,
    rmse: Math.sqrt(sq / n),
    perBlockMeanAbs,
    perBlockMaxAbs,
    codeHistogram: codeHistogram(q),
    bitsPerParam: q.bitsPerParam(),
  };
}

/** Quantizes `values` with `options` and reports the error. */
export function quantizationError(values: Float32Array, shape: number[], options: Quantize4bitOptions = {}): QuantErrorReport {
  return errorOf(values, quantize4bit(values, shape, options));
}

/** The same tensor quantized with each type (NF4, FP4, INT4 by default) and the same other options. */
export function compareQuantTypes(values: Float32Array, shape: number[], options: Omit<Quantize4bitOptions, "quantType" | "code"> = {}, types: readonly QuantType[] = QUANT_TYPES): QuantErrorReport[] {
  return types.map((quantType) => quantizationError(values, shape, { ...options, quantType, zeroBlockByte: undefined }));
}
