// The LLaMA decoder's configuration: the interface, a defaults object, a validator, and the mapping
// to and from Hugging Face's LlamaConfig (transformers/models/llama/configuration_llama.py).
import { FileFormatError, InvalidArgumentError, expected } from "../errors.js";

/** Shapes and constants of a LLaMA-family decoder (Hugging Face LlamaForCausalLM semantics). */
export interface LlamaConfig {
  /** V: vocabulary size. */
  vocabSize: number;
  /** C: model width (hidden_size). */
  hiddenSize: number;
  /** F: SwiGLU inner width (intermediate_size). */
  intermediateSize: number;
  /** L: decoder layers. */
  numLayers: number;
  /** H: query heads. */
  numHeads: number;
  /** K: key/value heads (grouped-query attention; H must be a multiple of K). */
  numKvHeads: number;
  /** Longest sequence the model was trained for (generation stops there). */
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** True when the output head reuses the token embedding. */
  tieWordEmbeddings: boolean;
  bosTokenId: number;
  eosTokenId: number;
}

/** Defaults for the optional fields (Hugging Face's LlamaConfig defaults where they exist). */
export const defaultLlamaConfig: Pick<LlamaConfig, "rmsNormEps" | "ropeTheta" | "tieWordEmbeddings" | "bosTokenId" | "eosTokenId" | "maxPositionEmbeddings"> = {
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  tieWordEmbeddings: false,
  bosTokenId: 1,
  eosTokenId: 2,
  maxPositionEmbeddings: 2048,
};

/** D: the per-head width C / H. */
export function headDim(config: LlamaConfig): number {
  return config.hiddenSize / config.numHeads;
}

/** Checks a config is internally consistent; throws InvalidArgumentError naming the bad field. */
export function validateLlamaConfig(config: LlamaConfig, where = "validateLlamaConfig"): LlamaConfig {
  const positiveInts: (keyof LlamaConfig)[] = ["vocabSize", "hiddenSize", "intermediateSize", "numLayers", "numHeads", "numKvHeads", "maxPositionEmbeddings"];
  for (const key of positiveInts) {
    const value = config[key];
    if (!Number.isInteger(value) || (value as number) <= 0) throw new InvalidArgumentError(where, expected(`${key} to be a positive integer`, value));
  }
  if (config.hiddenSize % config.numHeads !== 0) throw new InvalidArgumentError(where, expected(`hiddenSize (${config.hiddenSize}) divisible by numHeads`, config.numHeads));
  if (config.numHeads % config.numKvHeads !== 0) throw new InvalidArgumentError(where, expected(`numHeads (${config.numHeads}) divisible by numKvHeads`, config.numKvHeads));
  if (headDim(config) % 2 !== 0) throw new InvalidArgumentError(where, expected("an even head dimension for rotary embeddings", headDim(config)));
  if (!(config.rmsNormEps > 0)) throw new InvalidArgumentError(where, expected("rmsNormEps > 0", config.rmsNormEps));
  if (!(config.ropeTheta > 0)) throw new InvalidArgumentError(where, expected("ropeTheta > 0", config.ropeTheta));
  for (const key of ["bosTokenId", "eosTokenId"] as const) {
    const id = config[key];
    if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) throw new InvalidArgumentError(where, expected(`${key} in [0, ${config.vocabSize})`, id));
  }
  return config;
}

/** Completes a partial config with the defaults and validates it. */
export function llamaConfig(fields: Partial<LlamaConfig> & Pick<LlamaConfig, "vocabSize" | "hiddenSize" | "intermediateSize" | "numLayers" | "numHeads">): LlamaConfig {
  return validateLlamaConfig({ ...defaultLlamaConfig, numKvHeads: fields.numHeads, ...fields }, "llamaConfig");
}

// config.json fields that do not change the computation (bookkeeping, training-only or defaults).
const BENIGN_HF_FIELDS = new Set([
  "architectures", "model_type", "transformers_version", "_name_or_path", "torch_dtype", "dtype", "use_cache",
  "initializer_range", "pad_token_id", "pretraining_tp", "attention_dropout", "tokenizer_class", "output_attentions",
  "output_hidden_states", "return_dict", "bos_token_id", "eos_token_id", "max_position_embeddings",
]);
const REQUIRED_HF_FIELDS = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"] as const;
const USED_HF_FIELDS = new Set<string>([...REQUIRED_HF_FIELDS, "num_key_value_heads", "rms_norm_eps", "rope_theta", "tie_word_embeddings"]);

/**
 * Reads a Hugging Face LlamaConfig (parsed config.json). Fields that would change the computation
 * in ways this decoder does not implement (rope_scaling, biases, another activation, ...) are named in the error.
 */
export function configFromHf(json: Record<string, unknown>, where = "config.json"): LlamaConfig {
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new FileFormatError(where, expected("a JSON object", json));
  const unsupported: string[] = [];
  const modelType = json.model_type;
  if (modelType !== undefined && modelType !== "llama") unsupported.push(`model_type=${JSON.stringify(modelType)}`);
  const architectures = json.architectures;
  if (Array.isArray(architectures) && architectures.some((a) => a !== "LlamaForCausalLM")) unsupported.push(`architectures=${JSON.stringify(architectures)}`);
  for (const [key, value] of Object.entries(json)) {
    if (BENIGN_HF_FIELDS.has(key) || USED_HF_FIELDS.has(key)) continue;
    const harmless =
      (key === "rope_scaling" && value === null) ||
      ((key === "attention_bias" || key === "mlp_bias") && value === false) ||
      (key === "hidden_act" && value === "silu") ||
      (key === "head_dim" && value === Number(json.hidden_size) / Number(json.num_attention_heads));
    if (!harmless) unsupported.push(`${key}=${JSON.stringify(value)}`);
  }
  if (unsupported.length > 0) {
    throw new FileFormatError(where, expected("only LlamaForCausalLM fields this decoder implements", `unsupported field(s) ${unsupported.join(", ")}`, "qlora-lab runs the plain LLaMA architecture (no rope scaling, no biases, SiLU gate)."));
  }
  const missing = REQUIRED_HF_FIELDS.filter((k) => json[k] === undefined);
  if (missing.length > 0) throw new FileFormatError(where, expected(`fields ${REQUIRED_HF_FIELDS.join(", ")}`, `missing ${missing.join(", ")}`));
  const firstId = (v: unknown, fallback: number) => (Array.isArray(v) ? Number(v[0]) : v === undefined || v === null ? fallback : Number(v));
  const config: LlamaConfig = {
    vocabSize: Number(json.vocab_size),
    hiddenSize: Number(json.hidden_size),
    intermediateSize: Number(json.intermediate_size),
    numLayers: Number(json.num_hidden_layers),
    numHeads: Number(json.num_attention_heads),
    numKvHeads: Number(json.num_key_value_heads ?? json.num_attention_heads),
    maxPositionEmbeddings: Number(json.max_position_embeddings ?? defaultLlamaConfig.maxPositionEmbeddings),
    rmsNormEps: Number(json.rms_norm_eps ?? defaultLlamaConfig.rmsNormEps),
    ropeTheta: Number(json.rope_theta ?? defaultLlamaConfig.ropeTheta),
    tieWordEmbeddings: Boolean(json.tie_word_embeddings ?? defaultLlamaConfig.tieWordEmbeddings),
    bosTokenId: firstId(json.bos_token_id, defaultLlamaConfig.bosTokenId),
    eosTokenId: firstId(json.eos_token_id, defaultLlamaConfig.eosTokenId),
  };
  try {
    return validateLlamaConfig(config, where);
  } catch (error) {
    throw new FileFormatError(where, (error as Error).message.replace(`${where}: `, ""));
  }
}

/** The config as Hugging Face's config.json fields. */
export function configToHf(config: LlamaConfig): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    vocab_size: config.vocabSize,
    max_position_embeddings: config.maxPositionEmbeddings,
    rms_norm_eps: config.rmsNormEps,
    rope_theta: config.ropeTheta,
    tie_word_embeddings: config.tieWordEmbeddings,
    hidden_act: "silu",
    bos_token_id: config.bosTokenId,
    eos_token_id: config.eosTokenId,
    torch_dtype: "float32",
  };
}
