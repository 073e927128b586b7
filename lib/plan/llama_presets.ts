// LLaMA-family architectures for the planner: published shapes of LLaMA 7B-65B (Touvron et al. 2023,
// Table 2), Llama-2-70B and Llama-3-8B (their Hugging Face config.json), and a reader for any config.json.
import { InvalidArgumentError, expected } from "../errors.js";

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

const shape = (name: string, h: number, i: number, l: number, a: number, kv: number, v: number): LlamaShape => ({
  name,
  hiddenSize: h,
  intermediateSize: i,
  numLayers: l,
  numHeads: a,
  numKvHeads: kv,
  headDim: h / a,
  vocabSize: v,
  tieWordEmbeddings: false,
});

/** Named presets (real published architectures). */
export const LLAMA_PRESETS: Readonly<Record<string, LlamaShape>> = {
  "7b": shape("llama-7b", 4096, 11008, 32, 32, 32, 32000),
  "13b": shape("llama-13b", 5120, 13824, 40, 40, 40, 32000),
  "33b": shape("llama-33b", 6656, 17920, 60, 52, 52, 32000),
  "65b": shape("llama-65b", 8192, 22016, 80, 64, 64, 32000),
  "llama2-70b": shape("llama-2-70b", 8192, 28672, 80, 64, 8, 32000),
  "llama3-8b": shape("llama-3-8b", 4096, 14336, 32, 32, 8, 128256),
};

/** Short names accepted besides the preset keys. */
const ALIASES: Readonly<Record<string, string>> = { "70b": "llama2-70b", "30b": "33b", "8b": "llama3-8b", "llama-2-70b": "llama2-70b", "llama-3-8b": "llama3-8b" };

/** A preset by name (case-insensitive; "70b" means Llama-2-70B); unknown names list the known ones. */
export function llamaPreset(name: string): LlamaShape {
  const key = name.trim().toLowerCase();
  const preset = LLAMA_PRESETS[ALIASES[key] ?? key];
  if (!preset) {
    const known = [...Object.keys(LLAMA_PRESETS), ...Object.keys(ALIASES)].join(", ");
    throw new InvalidArgumentError("llamaPreset", expected(`a known model preset (${known})`, JSON.stringify(name), "Or pass a Hugging Face config.json."));
  }
  return preset;
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
