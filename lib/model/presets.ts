// Published LLaMA-family shapes, one table for both the models qlora-lab builds (random weights, for
// measuring memory and speed at real sizes: never quality) and the planner. Numbers are the models'
// Hugging Face config.json fields (LLaMA 7B-65B from Touvron et al. 2023, Table 2). Llama 3.1 / 3.2
// scale their rotary frequencies (rope_scaling "llama3"), which this decoder does not; with random
// weights that changes neither memory nor speed.
import { InvalidArgumentError, expected } from "../errors.js";
import { llamaConfig, type LlamaConfig } from "./config.js";

/** A preset's config.json numbers. */
export interface ModelPreset {
  /** The published model it has the shape of. */
  publishedAs: string;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  vocabSize: number;
  tieWordEmbeddings: boolean;
  ropeTheta: number;
  rmsNormEps: number;
  maxPositionEmbeddings: number;
}

const preset = (publishedAs: string, h: number, i: number, l: number, a: number, kv: number, v: number, tied: boolean, ropeTheta: number, rmsNormEps: number, maxPositions: number): ModelPreset => ({
  publishedAs,
  hiddenSize: h,
  intermediateSize: i,
  numLayers: l,
  numHeads: a,
  numKvHeads: kv,
  vocabSize: v,
  tieWordEmbeddings: tied,
  ropeTheta,
  rmsNormEps,
  maxPositionEmbeddings: maxPositions,
});

/** Every preset by name. */
export const MODEL_PRESETS: Readonly<Record<string, ModelPreset>> = {
  "smollm2-135m": preset("HuggingFaceTB/SmolLM2-135M", 576, 1536, 30, 9, 3, 49152, true, 100000, 1e-5, 8192),
  "smollm2-360m": preset("HuggingFaceTB/SmolLM2-360M", 960, 2560, 32, 15, 5, 49152, true, 100000, 1e-5, 8192),
  "tinyllama-1.1b": preset("TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T", 2048, 5632, 22, 32, 4, 32000, false, 10000, 1e-5, 2048),
  "llama-3.2-1b": preset("meta-llama/Llama-3.2-1B", 2048, 8192, 16, 32, 8, 128256, true, 500000, 1e-5, 131072),
  "llama-3.2-3b": preset("meta-llama/Llama-3.2-3B", 3072, 8192, 28, 24, 8, 128256, true, 500000, 1e-5, 131072),
  "llama-2-7b": preset("meta-llama/Llama-2-7b-hf", 4096, 11008, 32, 32, 32, 32000, false, 10000, 1e-5, 4096),
  "llama-3.1-8b": preset("meta-llama/Llama-3.1-8B", 4096, 14336, 32, 32, 8, 128256, false, 500000, 1e-5, 131072),
  "7b": preset("LLaMA-7B", 4096, 11008, 32, 32, 32, 32000, false, 10000, 1e-6, 2048),
  "13b": preset("LLaMA-13B", 5120, 13824, 40, 40, 40, 32000, false, 10000, 1e-6, 2048),
  "33b": preset("LLaMA-33B", 6656, 17920, 60, 52, 52, 32000, false, 10000, 1e-6, 2048),
  "65b": preset("LLaMA-65B", 8192, 22016, 80, 64, 64, 32000, false, 10000, 1e-5, 2048),
  "llama2-70b": preset("meta-llama/Llama-2-70b-hf", 8192, 28672, 80, 64, 8, 32000, false, 10000, 1e-5, 4096),
  "llama3-8b": preset("meta-llama/Meta-Llama-3-8B", 4096, 14336, 32, 32, 8, 128256, false, 500000, 1e-5, 8192),
};

/** Other names accepted for presets. */
export const PRESET_ALIASES: Readonly<Record<string, string>> = {
  "70b": "llama2-70b",
  "30b": "33b",
  "8b": "llama3-8b",
  "llama-2-70b": "llama2-70b",
  "llama-3-8b": "llama3-8b",
  "tinyllama": "tinyllama-1.1b",
};

/** The preset called `name` (case-insensitive, aliases accepted); an unknown name lists the known ones. */
export function modelPreset(name: string): ModelPreset & { name: string } {
  const key = name.trim().toLowerCase();
  const resolved = PRESET_ALIASES[key] ?? key;
  const found = MODEL_PRESETS[resolved];
  if (!found) {
    const known = [...Object.keys(MODEL_PRESETS), ...Object.keys(PRESET_ALIASES)].join(", ");
    throw new InvalidArgumentError("modelPreset", expected(`a known model preset (${known})`, JSON.stringify(name), "Or pass a Hugging Face config.json."));
  }
  return { name: resolved, ...found };
}

/** The decoder config of a preset (token ids 1 and 2, as LLaMA's; random-weight models need no tokenizer). */
export function presetConfig(name: string): LlamaConfig {
  const { hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, vocabSize, tieWordEmbeddings, ropeTheta, rmsNormEps, maxPositionEmbeddings } = modelPreset(name);
  return llamaConfig({ hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, vocabSize, tieWordEmbeddings, ropeTheta, rmsNormEps, maxPositionEmbeddings });
}
