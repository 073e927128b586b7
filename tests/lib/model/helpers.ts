// Shared test fixtures for lib/model: paths to the real checkpoints and small comparison helpers.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";

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

/** Overwrites float32 element `index` of tensor `name` in a safetensors file, in place (to damage a saved file). */
export function pokeFloat32(path: string, name: string, index: number, value: number): void {
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const entry = (JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Record<string, { dtype: string; data_offsets: [number, number] }>)[name];
  assert.ok(entry && entry.dtype === "F32", `an F32 tensor "${name}" in ${path}`);
  bytes.writeFloatLE(value, 8 + headerLength + entry.data_offsets[0] + 4 * index);
  writeFileSync(path, bytes);
}
