// Shared fixtures for lib/train tests: the shipped tokenizer and tiny models built from a seed.
import { resolveBackend } from "../../../lib/backend.js";
import { initLlamaModel, llamaConfig, loadTokenizer, type LlamaModel, type Tokenizer } from "../../../lib/model/index.js";
import { shippedModelPath } from "../../../lib/data/index.js";

/** The base model's tokenizer (datasets/base-model/tokenizer.json). */
export async function shippedTokenizer(): Promise<Tokenizer> {
  await resolveBackend();
  return loadTokenizer(`${shippedModelPath()}/tokenizer.json`);
}

/** A tiny fully trainable model (1 layer, width 16) whose weights follow from `seed`. */
export function tinyModel(vocabSize: number, seed = 7): LlamaModel {
  const config = llamaConfig({ vocabSize, hiddenSize: 16, intermediateSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, maxPositionEmbeddings: 64, tieWordEmbeddings: true });
  return initLlamaModel(config, { trainable: "all", seed });
}
