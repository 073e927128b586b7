// Shared test fixtures for lib/model: paths to the real checkpoints and small comparison helpers.
import assert from "node:assert/strict";

/** The llama2.c stories260K checkpoint (shared/models, beside the checkout). */
export const LLAMA2C_MODEL = new URL("../../../../shared/models/stories260K/stories260K.bin", import.meta.url).pathname;
/** Its llama2.c tokenizer. */
export const LLAMA2C_TOKENIZER = new URL("../../../../shared/models/stories260K/tok512.bin", import.meta.url).pathname;
/** The same weights as a Hugging Face folder. */
export const HF_MODEL = new URL("../../../../shared/models/stories260K-hf", import.meta.url).pathname;
/** What stories260K writes greedily from BOS (llama2.c's doc/stories260K.md). */
export const STORY = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park";

/** Asserts |a - b| <= tol elementwise and returns the largest difference. */
export function assertClose(actual: ArrayLike<number>, wanted: ArrayLike<number>, tol: number, what = "values"): number {
  assert.equal(actual.length, wanted.length, `${what}: lengths differ`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - wanted[i]!);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  assert.ok(worst <= tol, `${what}: max |diff| ${worst} at ${at} (${actual[at]} vs ${wanted[at]}) exceeds ${tol}`);
  return worst;
}
