// PiSSA (Meng et al. 2024, arXiv 2404.02948) as PEFT's LoraLayer.pissa_init computes it: with
// W = U S Vh, the adapter takes the top r triplets, S_r divided by the scaling so that
// scaling * B A is exactly the rank-r part of W, split evenly: A = sqrt(S_r / s) Vh_r, B = U_r sqrt(S_r / s).
// The frozen base becomes the residual W - scaling * B A (what QLoRA then quantizes: "QPiSSA").
import { InvalidArgumentError, expected } from "../errors.js";
import { matrixFrom, randomizedSvd, svd, truncateSvd } from "./svd.js";

/** One layer's PiSSA start: A [r, in], B [out, r] and the residual base [out, in], row-major float32. */
export interface PissaFactors {
  a: Float32Array;
  b: Float32Array;
  residual: Float32Array;
}

/**
 * PiSSA's factors of `weight` ([out, in] row-major). `powerIterations` null: the exact SVD
 * (init "pissa"); N: torch.svd_lowrank's randomized SVD with N power iterations ("pissa_niter_N"),
 * its Gaussian sketch drawn from `seed`. The residual is computed from the float32 A and B, so
 * residual + scaling * B A reproduces W to float32 rounding even when the SVD is approximate.
 */
export function pissaFactors(weight: Float32Array, outFeatures: number, inFeatures: number, r: number, scaling: number, powerIterations: number | null, seed = 0): PissaFactors {
  const where = "pissaFactors";
  if (!(scaling > 0 && Number.isFinite(scaling))) throw new InvalidArgumentError(where, expected("a positive scaling (lora_alpha > 0) for PiSSA", scaling, "Its factors take the square root of S / scaling."));
  if (r > Math.min(outFeatures, inFeatures)) throw new InvalidArgumentError(where, expected(`r <= min(out ${outFeatures}, in ${inFeatures}) for PiSSA`, r));
  const w = matrixFrom(weight, outFeatures, inFeatures);
  const top = powerIterations === null ? truncateSvd(svd(w), r) : randomizedSvd(w, r, powerIterations, seed);
  const a = new Float32Array(r * inFeatures);
  const b = new Float32Array(outFeatures * r);
  for (let k = 0; k < r; k++) {
    const root = Math.sqrt(top.s[k]! / scaling);
    for (let j = 0; j < inFeatures; j++) a[k * inFeatures + j] = root * top.vh.data[k * inFeatures + j]!;
    for (let i = 0; i < outFeatures; i++) b[i * r + k] = top.u.data[i * r + k]! * root;
  }
  return { a, b, residual: subtractScaledProduct(weight, b, a, outFeatures, inFeatures, r, scaling) };
}

/** W - scaling * B A in float64, rounded once to float32. */
export function subtractScaledProduct(weight: ArrayLike<number>, b: Float32Array, a: Float32Array, outFeatures: number, inFeatures: number, r: number, scaling: number): Float32Array {
  const out = new Float32Array(outFeatures * inFeatures);
  const row = new Float64Array(inFeatures);
  for (let i = 0; i < outFeatures; i++) {
    row.fill(0);
    for (let k = 0; k < r; k++) {
      const bik = b[i * r + k]!;
      for (let j = 0; j < inFeatures; j++) row[j]! += bik * a[k * inFeatures + j]!;
    }
    for (let j = 0; j < inFeatures; j++) out[i * inFeatures + j] = weight[i * inFeatures + j]! - scaling * row[j]!;
  }
  return out;
}
