// LoftQ (Li et al. 2023, arXiv 2310.08659) as PEFT's loftq_utils.loftq_init computes it: starting
// from the residual R = W, each round quantizes R to 4 bits (Q), takes the rank-r SVD of W - Q as
// B A (B = U_r sqrt(S_r), A = sqrt(S_r) Vh_r), and sets R = W - B A for the next round. The base
// becomes the last Q, the adapter the last B and A. As in PEFT, B A is not divided by the scaling
// (PEFT issue 1982): with lora_alpha = r the adapter cancels W - Q; with another alpha it is scaled.
import type { QuantizedTensor } from "../quant/quantized_tensor.js";
import { InvalidArgumentError, expected } from "../errors.js";
import { subtractScaledProduct } from "./pissa.js";
import { svd, truncateSvd } from "./svd.js";

/** One layer's LoftQ start: A [r, in], B [out, r] (float32, row-major) and the 4-bit backbone. */
export interface LoftqFactors {
  a: Float32Array;
  b: Float32Array;
  /** The backbone Q: the quantization of the last round's W - B A (the caller owns it). */
  quantized: QuantizedTensor;
}

/**
 * LoftQ's factors of `weight` ([out, in] row-major) over `iterations` rounds. `quantize` turns a
 * float32 [out, in] array into the 4-bit tensor the base will hold (NF4, as the model's base is stored).
 */
export function loftqFactors(weight: Float32Array, outFeatures: number, inFeatures: number, r: number, iterations: number, quantize: (values: Float32Array) => QuantizedTensor): LoftqFactors {
  if (!(Number.isInteger(iterations) && iterations >= 1)) throw new InvalidArgumentError("loftqFactors", expected("loftq_iter, a positive integer", iterations));
  if (r > Math.min(outFeatures, inFeatures)) throw new InvalidArgumentError("loftqFactors", expected(`r <= min(out ${outFeatures}, in ${inFeatures}) for LoftQ`, r));
  let residual: Float32Array = weight;
  let quantized: QuantizedTensor | undefined;
  let a: Float32Array = new Float32Array(r * inFeatures);
  let b: Float32Array = new Float32Array(outFeatures * r);
  try {
    for (let round = 0; round < iterations; round++) {
      quantized?.dispose();
      quantized = quantize(residual);
      const error = subtractArrays(weight, quantized.dequantizeToArray()); // W - Q
      ({ a, b } = lowRankFactors(error, outFeatures, inFeatures, r));
      residual = subtractScaledProduct(weight, b, a, outFeatures, inFeatures, r, 1); // W - B A
    }
  } catch (failure) {
    quantized?.dispose();
    throw failure;
  }
  return { a, b, quantized: quantized! };
}

/** PEFT's _low_rank_decomposition: L = U_r sqrt(S_r) [out, r] and R = sqrt(S_r) Vh_r [r, in]. */
function lowRankFactors(values: Float64Array, outFeatures: number, inFeatures: number, r: number): { a: Float32Array; b: Float32Array } {
  const top = truncateSvd(svd({ rows: outFeatures, cols: inFeatures, data: values }), r);
  const a = new Float32Array(r * inFeatures);
  const b = new Float32Array(outFeatures * r);
  for (let k = 0; k < r; k++) {
    const root = Math.sqrt(top.s[k]!);
    for (let j = 0; j < inFeatures; j++) a[k * inFeatures + j] = root * top.vh.data[k * inFeatures + j]!;
    for (let i = 0; i < outFeatures; i++) b[i * r + k] = top.u.data[i * r + k]! * root;
  }
  return { a, b };
}

function subtractArrays(x: Float32Array, y: Float32Array): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! - y[i]!;
  return out;
}
