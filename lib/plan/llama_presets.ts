// LLaMA-family architectures for the planner: the presets of lib/model/presets.ts (published shapes), a
// reader for any config.json, and the linears of one block.
import { InvalidArgumentError, expected } from "../errors.js";
import { MODEL_PRESETS, modelPreset, type ModelPreset } from "../model/presets.js";

/** The names the planner has always shown for the original presets. */
const LEGACY_NAMES: Readonly<Record<string, string>> = { "7b": "llama-7b", "13b": "llama-13b", "33b": "llama-33b", "65b": "llama-65b", "llama2-70b": "llama-2-70b", "llama3-8b": "llama-3-8b" };

/** The numbers the planner needs from a LLaMA-family config. */
export interface LlamaShape {
  name: string;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  tieWordEmbeddings: boolean;
}

/** The planner's view of a preset of lib/model/presets.ts (the one table of shapes). */
function shapeOfPreset(name: string, p: ModelPreset): LlamaShape {
  return {
    name,
    hiddenSize: p.hiddenSize,
    intermediateSize: p.intermediateSize,
    numLayers: p.numLayers,
    numHeads: p.numHeads,
    numKvHeads: p.numKvHeads,
    headDim: p.hiddenSize / p.numHeads,
    vocabSize: p.vocabSize,
    tieWordEmbeddings: p.tieWordEmbeddings,
  };
}

/** Named presets (real published architectures). */
export const LLAMA_PRESETS: Readonly<Record<string, LlamaShape>> = Object.fromEntries(Object.entries(MODEL_PRESETS).map(([name, p]) => [name, shapeOfPreset(LEGACY_NAMES[name] ?? name, p)]));

/** A preset by name (case-insensitive; "70b" means Llama-2-70B); unknown names list the known ones. */
export function llamaPreset(name: string): LlamaShape {
  const found = modelPreset(name);
  return LLAMA_PRESETS[found.name]!;
}

/** Reads the shape from a Hugging Face config.json object (LLaMA, Mistral, Qwen2-style fields). */
export function shapeFromHfConfig(config: Record<string, unknown>, name = "config"): LlamaShape {
  const num = (key: string, fallback?: number): number => {
    const value = config[key] ?? fallback;
    if (!(typeof value === "number" && Number.isInteger(value) && value > 0)) {
      throw new InvalidArgumentError("shapeFromHfConfig", expected(`config.${key} to be a positive integer`, value, "Is this a LLaMA-family config.json?"));
    }
    return value;
  };
  const h = num("hidden_size");
  const a = num("num_attention_heads");
  return {
    name: String(config._name_or_path ?? config.model_type ?? name),
    hiddenSize: h,
    intermediateSize: num("intermediate_size"),
    numLayers: num("num_hidden_layers"),
    numHeads: a,
    numKvHeads: num("num_key_value_heads", a),
    headDim: num("head_dim", Math.floor(h / a)),
    vocabSize: num("vocab_size"),
    tieWordEmbeddings: config.tie_word_embeddings === true,
  };
}

/** One linear layer of a decoder block: module suffix and [out, in]. */
export interface LinearShape {
  module: string;
  outFeatures: number;
  inFeatures: number;
}

/** The seven linears of one decoder block (q, k, v, o, gate, up, down). */
export function blockLinears(s: LlamaShape): LinearShape[] {
  const q = s.numHeads * s.headDim;
  const kv = s.numKvHeads * s.headDim;
  return [
    { module: "q_proj", outFeatures: q, inFeatures: s.hiddenSize },
    { module: "k_proj", outFeatures: kv, inFeatures: s.hiddenSize },
    { module: "v_proj", outFeatures: kv, inFeatures: s.hiddenSize },
    { module: "o_proj", outFeatures: s.hiddenSize, inFeatures: q },
    { module: "gate_proj", outFeatures: s.intermediateSize, inFeatures: s.hiddenSize },
    { module: "up_proj", outFeatures: s.intermediateSize, inFeatures: s.hiddenSize },
    { module: "down_proj", outFeatures: s.hiddenSize, inFeatures: s.intermediateSize },
  ];
}
