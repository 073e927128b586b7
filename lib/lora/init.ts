// Seeded initialisation of LoRA's A and B as PEFT does it (LoraLayer.reset_lora_parameters):
// kaiming_uniform_(A, a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)); "gaussian" A ~ N(0, 1/r^2); B = 0.
import type { LoraInit } from "./config.js";

/** Initial values of one adapter's matrices, row-major: a is [r, in], b is [out, r]. */
export interface LoraInitValues {
  a: Float32Array;
  b: Float32Array;
}

/**
 * A and B for one layer. `seed` fixes the draw (derive it with {@link moduleSeed} so a layer's
 * values do not depend on which other layers are adapted). `false` follows torch.nn.Linear's
 * default for both matrices, so B is non-zero and the adapter is not a no-op (PEFT's debug option).
 */
export function initLoraValues(init: LoraInit | string, r: number, inFeatures: number, outFeatures: number, seed: number): LoraInitValues {
  const random = new SplitMix32(seed);
  const a = new Float32Array(r * inFeatures); // [r, in]
  const b = new Float32Array(outFeatures * r); // [out, r]
  if (init === "gaussian") {
    for (let i = 0; i < a.length; i++) a[i] = random.normal() / r;
    return { a, b };
  }
  // kaiming_uniform_ with a = sqrt(5): gain sqrt(1/3), bound = gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in).
  const boundA = 1 / Math.sqrt(inFeatures);
  for (let i = 0; i < a.length; i++) a[i] = (2 * random.uniform() - 1) * boundA;
  if (init === false) {
    const boundB = 1 / Math.sqrt(r);
    for (let i = 0; i < b.length; i++) b[i] = (2 * random.uniform() - 1) * boundB;
  }
  return { a, b };
}

/** A per-module seed from a base seed, the adapter name and the module path (FNV-1a mix). */
export function moduleSeed(seed: number, adapterName: string, modulePath: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (const ch of `${adapterName}\u0000${modulePath}`) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A small deterministic generator (splitmix32): uniform [0, 1) and standard normal draws. */
class SplitMix32 {
  private state: number;
  private spare: number | undefined;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  uniform(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  }

  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    // Box-Muller on (0, 1] so log never sees 0.
    const u = 1 - this.uniform();
    const v = this.uniform();
    const radius = Math.sqrt(-2 * Math.log(u));
    this.spare = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  }
}
