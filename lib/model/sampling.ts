// Choosing the next token from logits: greedy, temperature, top-k (Fan et al. 2018) and nucleus
// top-p (Holtzman et al. 2020) sampling, driven by a seeded PRNG so a seed reproduces a run.
import { InvalidArgumentError, expected } from "../errors.js";
import { requireNonNegativeInteger } from "../validate.js";

/** How to pick a token; temperature 0 means greedy (argmax). */
export interface SamplingOptions {
  /** 0 = greedy; otherwise logits are divided by it before the softmax. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined = all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 or undefined = all). */
  topP?: number;
}

/** A uniform [0, 1) generator from a 32-bit seed (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Validates sampling options at the public boundary. */
export function validateSamplingOptions(options: SamplingOptions, where: string): void {
  const { temperature = 0, topK = 0, topP = 1 } = options;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new InvalidArgumentError(where, expected("temperature >= 0", temperature));
  requireNonNegativeInteger(where, "topK", topK);
  if (!(topP > 0 && topP <= 1)) throw new InvalidArgumentError(where, expected("topP in (0, 1]", topP));
}

/** Index of the largest logit (the first one on ties). */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** Picks a token id from one position's logits [V]. */
export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, random: () => number): number {
  const { temperature = 0, topK = 0, topP = 1 } = options;
  if (temperature === 0 || topK === 1) return argmax(logits);
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
  const keep = topK > 0 ? Math.min(topK, order.length) : order.length;
  const max = logits[order[0]!]!;
  const weights = new Float64Array(keep);
  let total = 0;
  for (let r = 0; r < keep; r++) total += weights[r] = Math.exp((logits[order[r]!]! - max) / temperature);
  let cut = keep;
  if (topP < 1) {
    let cumulative = 0;
    for (let r = 0; r < keep; r++) {
      cumulative += weights[r]! / total;
      if (cumulative >= topP) {
        cut = r + 1;
        break;
      }
    }
    total = 0;
    for (let r = 0; r < cut; r++) total += weights[r]!;
  }
  let draw = random() * total;
  for (let r = 0; r < cut; r++) {
    draw -= weights[r]!;
    if (draw < 0) return order[r]!;
  }
  return order[cut - 1]!;
}
