// Fixtures for recipe tests: pre-tokenized rows for stories260K, an initial PEFT adapter with every
// factor non-zero, and a recipe file that trains on them exactly as the PyTorch reference does.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadModel } from "../../../lib/model/index.js";
import { saveAdapter, toLoraModel } from "../../../lib/lora/index.js";
import { Rng } from "../../../lib/train/index.js";
import { HF_MODEL, LLAMA2C_TOKENIZER } from "../model/helpers.js";

export { HF_MODEL, LLAMA2C_TOKENIZER };

/** Every projection of a LLaMA block. */
export const ALL_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/** 12 rows of 20 to 33 seeded token ids of stories260K's vocabulary; every other row has labels with the first 5 positions -100. */
export function tokenizedRows(): { input_ids: number[]; labels?: number[] }[] {
  const rng = new Rng(11);
  return Array.from({ length: 12 }, (_, i) => {
    const ids = [1, ...Array.from({ length: 19 + rng.int(14) }, () => 3 + rng.int(509))];
    return i % 2 ? { input_ids: ids, labels: ids.map((id, t) => (t < 5 ? -100 : id)) } : { input_ids: ids };
  });
}

/** Writes the rows as JSON Lines; returns the path. */
export function writeRows(dir: string, rows = tokenizedRows()): string {
  const path = join(dir, "rows.jsonl");
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return path;
}

/** A PEFT adapter on stories260K (r 4, alpha 8, every projection) with seeded A and B both non-zero. */
export async function writeInitialAdapter(dir: string): Promise<string> {
  const model = await loadModel(HF_MODEL);
  const rng = new Rng(5);
  const uniform = (n: number, bound: number) => Float32Array.from({ length: n }, () => (2 * rng.next() - 1) * bound);
  const values = new Map<string, { a: Float32Array; b: Float32Array }>();
  for (const [path, linear] of model.linears()) {
    if (!ALL_PROJECTIONS.some((p) => path.endsWith(p))) continue;
    values.set(path, { a: uniform(4 * linear.inFeatures, 1 / Math.sqrt(linear.inFeatures)), b: uniform(linear.outFeatures * 4, 0.05) });
  }
  const lora = toLoraModel(model, { r: 4, lora_alpha: 8, target_modules: ALL_PROJECTIONS }, { values });
  const out = join(dir, "initial-adapter");
  saveAdapter(lora, out);
  lora.dispose();
  return out;
}

/** Training settings the TypeScript run and the PyTorch reference share. */
export const SHARED = { steps: 20, batchSize: 4, lr: 5e-3, betas: [0.9, 0.95] as [number, number], eps: 1e-6, weightDecay: 0.01, maxGradNorm: 1.0 };

/** A JSON recipe: LoRA on a float32 base, rows in file order, constant lr without warmup, no dropout. */
export function recipeFor(rowsPath: string, output: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: { path: HF_MODEL, tokenizer: LLAMA2C_TOKENIZER },
    method: "lora",
    base_dtype: "f32",
    lora: { r: 4, lora_alpha: 8, lora_dropout: 0, target_modules: ALL_PROJECTIONS },
    data: { train: rowsPath, seq_len: 64, shuffle: false },
    training: { steps: SHARED.steps, batch_size: SHARED.batchSize, max_grad_norm: SHARED.maxGradNorm, seed: 0 },
    optimizer: { lr: SHARED.lr, betas: SHARED.betas, eps: SHARED.eps, weight_decay: SHARED.weightDecay },
    schedule: { kind: "constant", warmup_ratio: 0 },
    save: { every: 5 },
    output,
    ...extra,
  };
}

/** Writes a recipe object as a .json file; returns its path. */
export function writeRecipe(dir: string, recipe: Record<string, unknown>, name = "recipe.json"): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(recipe, null, 2));
  return path;
}

/** The losses of a log.jsonl. */
export function logLosses(text: string): number[] {
  return text.trim().split("\n").map((l) => (JSON.parse(l) as { loss: number }).loss);
}
