// LoRA configuration with Hugging Face PEFT's field names, defaults and meaning (peft LoraConfig,
// peft/tuners/lora/config.py): the interface, the defaults object, the validator, the scaling rule.
import { InvalidArgumentError, describeValue, expected } from "../errors.js";
import { FLOAT32_MAX, requirePositiveInteger } from "../validate.js";
import { ModulePatternError, compileModulePattern, type ModulePattern } from "./module_pattern.js";

/**
 * How A and B start: `true` kaiming-uniform A and B = 0, `"gaussian"` A ~ N(0, 1/r^2) and B = 0,
 * `false` both random (not a no-op; for tests); `"pissa"` / `"pissa_niter_N"` the top-r singular
 * triplets of W (exact, or randomized with N power iterations), the base becoming the residual;
 * `"loftq"` alternating 4-bit quantization and SVD (loftq_config), the base becoming the quantized backbone.
 */
export type LoraInit = boolean | "gaussian" | "pissa" | `pissa_niter_${number}` | "loftq";

/** PEFT's LoftQConfig as adapter_config.json holds it: {} (LoftQ off) or both fields. */
export interface LoftqConfig {
  /** Bits of the backbone (PEFT: 2, 4 or 8; here 4, NF4). */
  loftq_bits?: number;
  /** Alternating quantize / SVD rounds (PEFT's default 1). */
  loftq_iter?: number;
}

/** True for the initialisations computed from the base weight ("pissa", "pissa_niter_N", "loftq"), which also change the base. */
export function isWeightBasedInit(init: unknown): init is "pissa" | `pissa_niter_${number}` | "loftq" {
  return init === "loftq" || pissaPowerIterations(init) !== undefined;
}

/** null for "pissa" (exact SVD), N for "pissa_niter_N" (randomized SVD), undefined for anything else. */
export function pissaPowerIterations(init: unknown): number | null | undefined {
  if (init === "pissa") return null;
  const m = typeof init === "string" ? /^pissa_niter_(\d+)$/.exec(init) : null;
  return m ? Number(m[1]) : undefined;
}

/** A LoRA configuration; field names and meanings are PEFT's so configs move between the two unchanged. */
export interface LoraConfig {
  /** Rank of the update (A is [r, in], B is [out, r]). */
  r: number;
  /** Numerator of the scaling: scaling = lora_alpha / r (or / sqrt(r) with use_rslora). */
  lora_alpha: number;
  /** Dropout probability on the LoRA branch's input only (the base path never sees it). */
  lora_dropout: number;
  /**
   * Which linears get an adapter: a list of exact module paths or name suffixes ("q_proj"), a regex
   * string matched against the whole module path, "all-linear" (every linear but the output head),
   * or null for the LLaMA default (["q_proj", "v_proj"], as PEFT resolves it for llama models).
   */
  target_modules: string[] | string | null;
  /** Modules never adapted, in the same forms as target_modules (list or full-match regex). */
  exclude_modules: string[] | string | null;
  /** Only adapt decoder layers with these indices (null: every layer). */
  layers_to_transform: number[] | number | null;
  /** The module-list name before the layer index ("layers"); null: any name. */
  layers_pattern: string[] | string | null;
  /** Rank-stabilised LoRA: scaling = lora_alpha / sqrt(r). */
  use_rslora: boolean;
  /** Initialisation of A and B. */
  init_lora_weights: LoraInit;
  /** LoftQ's settings, used with init_lora_weights "loftq" ({} otherwise, as PEFT writes it). */
  loftq_config: LoftqConfig;
  /** Bias training; qlora-lab's linears carry no bias, so only "none" is accepted. */
  bias: "none";
  /** Per-module rank overrides: key = regex or suffix of the module path, value = rank. */
  rank_pattern: Record<string, number>;
  /** Per-module alpha overrides, keyed like rank_pattern. */
  alpha_pattern: Record<string, number>;
  /** Written to adapter_config.json so PEFT finds the base model; informative here. */
  base_model_name_or_path: string | null;
  /** PEFT's flag: true when the adapter is loaded for inference (saved adapters say true). */
  inference_mode: boolean;
  /** Always "CAUSAL_LM" for the decoders qlora-lab trains. */
  task_type: "CAUSAL_LM";
}

/** PEFT's defaults (LoraConfig() with no arguments). */
export const defaultLoraConfig: Readonly<LoraConfig> = Object.freeze({
  r: 8,
  lora_alpha: 8,
  lora_dropout: 0,
  target_modules: null,
  exclude_modules: null,
  layers_to_transform: null,
  layers_pattern: null,
  use_rslora: false,
  init_lora_weights: true,
  loftq_config: {},
  bias: "none",
  rank_pattern: {},
  alpha_pattern: {},
  base_model_name_or_path: null,
  inference_mode: false,
  task_type: "CAUSAL_LM",
} as LoraConfig);

/** The target modules PEFT picks for a llama model when target_modules is null. */
export const LLAMA_DEFAULT_TARGET_MODULES: readonly string[] = Object.freeze(["q_proj", "v_proj"]);

/** PEFT fields that name features qlora-lab does not implement, with the value that means "off". */
const UNSUPPORTED_FEATURES: ReadonlyArray<{ key: string; off: (v: unknown) => boolean; allowed: string; hint: string }> = [
  { key: "use_dora", off: (v) => v === false || v == null, allowed: "false", hint: "DoRA is not implemented." },
  { key: "fan_in_fan_out", off: (v) => v === false || v == null, allowed: "false", hint: "Only [out, in] (torch.nn.Linear) weights exist in LLaMA models." },
  { key: "modules_to_save", off: (v) => v == null || (Array.isArray(v) && v.length === 0), allowed: "null", hint: "Fully trained extra modules are not supported." },
  { key: "lora_bias", off: (v) => v === false || v == null, allowed: "false", hint: "LoRA bias terms are not implemented." },
  { key: "layer_replication", off: (v) => v == null, allowed: "null", hint: "Layer replication is not implemented." },
  { key: "use_qalora", off: (v) => v === false || v == null, allowed: "false", hint: "QA-LoRA is not implemented." },
  { key: "target_parameters", off: (v) => v == null || (Array.isArray(v) && v.length === 0), allowed: "null or []", hint: "Only nn.Linear-style modules can be targeted." },
  { key: "trainable_token_indices", off: (v) => v == null, allowed: "null", hint: "Trainable tokens are not implemented." },
  { key: "alora_invocation_tokens", off: (v) => v == null, allowed: "null", hint: "Activated LoRA is not implemented." },
];

/** Keys of LoraConfig (what validateLoraConfig accepts from a user). */
const KNOWN_KEYS = new Set<string>(Object.keys(defaultLoraConfig));

/** Options of {@link validateLoraConfig}. */
export interface ValidateLoraConfigOptions {
  /** Ignore keys LoraConfig does not have (true when reading PEFT's adapter_config.json). */
  allowUnknownKeys?: boolean;
  /** Accept any init_lora_weights value PEFT knows ("pissa", "olora", ...): loaded weights replace the init. */
  forLoading?: boolean;
  /** Function name used in error messages. */
  where?: string;
}

/**
 * Fills PEFT's defaults into a partial config and checks every field; errors name the field and
 * the values it allows.
 */
export function validateLoraConfig(input: Partial<LoraConfig> | Record<string, unknown> = {}, options: ValidateLoraConfigOptions = {}): LoraConfig {
  const where = options.where ?? "validateLoraConfig";
  if (input === null || typeof input !== "object" || Array.isArray(input)) throw new InvalidArgumentError(where, expected("a LoRA config object", input));
  const raw = input as Record<string, unknown>;
  if (!options.allowUnknownKeys) {
    for (const key of Object.keys(raw)) {
      if (!KNOWN_KEYS.has(key) && !UNSUPPORTED_FEATURES.some((f) => f.key === key) && key !== "peft_type") {
        throw new InvalidArgumentError(where, expected(`only LoraConfig fields (${[...KNOWN_KEYS].join(", ")})`, JSON.stringify(key), "Field names are PEFT's (snake_case)."));
      }
    }
  }
  if (raw.peft_type !== undefined && raw.peft_type !== "LORA") throw new InvalidArgumentError(where, expected('peft_type "LORA"', describeValue(raw.peft_type), "Only LoRA adapters are supported."));
  for (const feature of UNSUPPORTED_FEATURES) {
    if (!feature.off(raw[feature.key])) throw new InvalidArgumentError(where, expected(`${feature.key} to be ${feature.allowed}`, describeValue(raw[feature.key]), feature.hint));
  }
  const pick = <K extends keyof LoraConfig>(key: K): LoraConfig[K] => (raw[key] === undefined ? structuredClone(defaultLoraConfig[key]) : (raw[key] as LoraConfig[K]));
  const config: LoraConfig = {
    r: pick("r"),
    lora_alpha: pick("lora_alpha"),
    lora_dropout: pick("lora_dropout"),
    target_modules: pick("target_modules"),
    exclude_modules: pick("exclude_modules"),
    layers_to_transform: pick("layers_to_transform"),
    layers_pattern: pick("layers_pattern"),
    use_rslora: pick("use_rslora"),
    init_lora_weights: pick("init_lora_weights"),
    loftq_config: pick("loftq_config") ?? {},
    bias: pick("bias"),
    rank_pattern: pick("rank_pattern") ?? {},
    alpha_pattern: pick("alpha_pattern") ?? {},
    base_model_name_or_path: pick("base_model_name_or_path"),
    inference_mode: pick("inference_mode"),
    task_type: pick("task_type"),
  };
  requirePositiveInteger(where, "r", config.r, "Typical ranks are 4 to 64.");
  requireFloat32Alpha(where, "lora_alpha", config.lora_alpha);
  if (typeof config.lora_dropout !== "number" || !(config.lora_dropout >= 0 && config.lora_dropout < 1)) throw new InvalidArgumentError(where, expected("lora_dropout in [0, 1)", describeValue(config.lora_dropout)));
  checkModuleSpec(where, "target_modules", config.target_modules, true);
  checkModuleSpec(where, "exclude_modules", config.exclude_modules, false);
  if (config.layers_to_transform !== null) {
    const layers = Array.isArray(config.layers_to_transform) ? config.layers_to_transform : [config.layers_to_transform];
    if (!layers.every((l) => Number.isInteger(l) && l >= 0)) throw new InvalidArgumentError(where, expected("layers_to_transform to be null, a layer index, or a list of layer indices (non-negative integers)", describeValue(config.layers_to_transform)));
  }
  if (config.layers_pattern !== null) {
    const patterns = Array.isArray(config.layers_pattern) ? config.layers_pattern : [config.layers_pattern];
    if (!patterns.every((p) => typeof p === "string" && p.length > 0)) throw new InvalidArgumentError(where, expected("layers_pattern to be null, a name or a list of names (e.g. \"layers\")", describeValue(config.layers_pattern)));
    for (const p of patterns) compilePattern(where, "layers_pattern", p as string);
  }
  if (typeof config.use_rslora !== "boolean") throw new InvalidArgumentError(where, expected("use_rslora to be true or false", describeValue(config.use_rslora)));
  const init = config.init_lora_weights;
  if (!(init === true || init === false || init === "gaussian" || isWeightBasedInit(init) || (options.forLoading && typeof init === "string"))) {
    throw new InvalidArgumentError(
      where,
      expected('init_lora_weights to be true (kaiming-uniform A, B = 0), "gaussian" (A ~ N(0, 1/r^2), B = 0), false (A and B random), "pissa", "pissa_niter_N" (N power iterations) or "loftq"', describeValue(init), "OLoRA, EVA and CorDA initialisations are not implemented."),
    );
  }
  config.loftq_config = checkLoftqConfig(where, config.loftq_config, init, options.forLoading ?? false);
  if (config.bias !== "none") throw new InvalidArgumentError(where, expected('bias to be "none"', describeValue(config.bias), 'qlora-lab\'s linears have no bias, so "all" and "lora_only" are not implemented.'));
  for (const key of ["rank_pattern", "alpha_pattern"] as const) {
    const pattern = config[key];
    if (pattern === null || typeof pattern !== "object" || Array.isArray(pattern)) throw new InvalidArgumentError(where, expected(`${key} to be an object {module pattern: number}`, describeValue(pattern)));
    for (const [name, value] of Object.entries(pattern)) {
      if (key === "alpha_pattern") requireFloat32Alpha(where, `alpha_pattern["${name}"]`, value);
      else if (!(Number.isInteger(value) && value > 0)) throw new InvalidArgumentError(where, expected(`rank_pattern["${name}"] to be a positive integer`, describeValue(value)));
      compilePattern(where, `${key} key`, name);
    }
  }
  if (config.base_model_name_or_path !== null && typeof config.base_model_name_or_path !== "string") throw new InvalidArgumentError(where, expected("base_model_name_or_path to be a string or null", describeValue(config.base_model_name_or_path)));
  if (typeof config.inference_mode !== "boolean") throw new InvalidArgumentError(where, expected("inference_mode to be true or false", describeValue(config.inference_mode)));
  if (config.task_type !== "CAUSAL_LM" && !(options.forLoading && (config.task_type === null || config.task_type === undefined))) {
    throw new InvalidArgumentError(where, expected('task_type "CAUSAL_LM"', describeValue(config.task_type), "qlora-lab adapts causal language models."));
  }
  config.task_type = "CAUSAL_LM";
  return config;
}

/**
 * PEFT's LoftQConfig rules: an object, {} or {loftq_bits, loftq_iter} (missing ones defaulted to 4
 * and 1, as LoftQConfig's dataclass writes both); init "loftq" needs it non-empty. Only 4-bit
 * backbones exist here (NF4); PEFT's 2- and 8-bit ones use its own quantizer.
 */
function checkLoftqConfig(where: string, value: unknown, init: unknown, forLoading: boolean): LoftqConfig {
  // A loaded adapter's weights replace the initialisation, so any LoftQ settings PEFT wrote are kept as they are.
  if (forLoading && value !== null && typeof value === "object" && !Array.isArray(value)) return { ...(value as LoftqConfig) };
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new InvalidArgumentError(where, expected("loftq_config to be an object ({} or {loftq_bits: 4, loftq_iter: 1})", describeValue(value)));
  const raw = value as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (key !== "loftq_bits" && key !== "loftq_iter") throw new InvalidArgumentError(where, expected("loftq_config keys loftq_bits and loftq_iter", JSON.stringify(key)));
  }
  if (Object.keys(raw).length === 0) {
    if (init === "loftq") throw new InvalidArgumentError(where, expected('loftq_config (e.g. {"loftq_bits": 4, "loftq_iter": 1}) with init_lora_weights "loftq"', "{}", "PEFT requires it too."));
    return {};
  }
  const bits = raw.loftq_bits ?? 4;
  const iters = raw.loftq_iter ?? 1;
  if (bits !== 4) throw new InvalidArgumentError(where, expected("loftq_config.loftq_bits to be 4 (an NF4 backbone)", describeValue(bits), "2- and 8-bit LoftQ backbones are not implemented."));
  if (!(Number.isInteger(iters) && (iters as number) >= 1)) throw new InvalidArgumentError(where, expected("loftq_config.loftq_iter to be a positive integer", describeValue(iters)));
  return { loftq_bits: 4, loftq_iter: iters as number };
}

/**
 * The scaling alpha / r (or alpha / sqrt(r)) multiplies float32 activations, and r >= 1, so an alpha
 * float32 can hold keeps the scaling finite; a larger one would make it Infinity or overflow every product.
 */
function requireFloat32Alpha(where: string, key: string, alpha: unknown): void {
  if (typeof alpha !== "number" || !Number.isFinite(alpha)) throw new InvalidArgumentError(where, expected(`${key} to be a finite number`, describeValue(alpha)));
  if (Math.abs(alpha) > FLOAT32_MAX) {
    throw new InvalidArgumentError(where, expected(`${key} within float32's range (|alpha| <= ${FLOAT32_MAX.toExponential(4)})`, describeValue(alpha), "The scaling alpha / r would overflow every float32 product; typical alphas are 8 to 64."));
  }
}

/** The factor the LoRA branch is multiplied by: alpha / r, or alpha / sqrt(r) for rsLoRA. */
export function loraScaling(r: number, alpha: number, useRslora: boolean): number {
  return useRslora ? alpha / Math.sqrt(r) : alpha / r;
}

/** Rank and alpha for one module after rank_pattern / alpha_pattern (PEFT: first key that matches). */
export function rankAndAlphaFor(config: LoraConfig, modulePath: string): { r: number; alpha: number } {
  const rKey = patternKeyFor(Object.keys(config.rank_pattern), modulePath);
  const aKey = patternKeyFor(Object.keys(config.alpha_pattern), modulePath);
  return {
    r: rKey === undefined ? config.r : config.rank_pattern[rKey]!,
    alpha: aKey === undefined ? config.lora_alpha : config.alpha_pattern[aKey]!,
  };
}

/** PEFT's pattern rule: a key matches when the path is `(anything.)key` with key read as a regex. */
function patternKeyFor(keys: string[], modulePath: string): string | undefined {
  return keys.find((key) => compilePattern("rankAndAlphaFor", "pattern key", key, "(?:.*\\.)?").test(modulePath));
}

const compiled = new Map<string, ModulePattern>();

/**
 * Compiles a regex from a config for full matches of module paths (optionally behind `prefix`, a
 * pattern of our own), in linear time (see module_pattern.ts): a downloaded config cannot hang
 * loading. Errors name the field and the pattern.
 */
export function compilePattern(where: string, field: string, source: string, prefix = ""): ModulePattern {
  const key = `${prefix}\0${source}`;
  const cached = compiled.get(key);
  if (cached) return cached;
  try {
    new RegExp(source);
  } catch (error) {
    throw new InvalidArgumentError(where, expected(`${field} to be a valid regular expression`, JSON.stringify(source), (error as Error).message));
  }
  let pattern: ModulePattern;
  try {
    pattern = compileModulePattern(`${prefix}(?:${source})`);
  } catch (error) {
    if (!(error instanceof ModulePatternError)) throw error;
    throw new InvalidArgumentError(where, expected(`${field} to be a regular module pattern`, JSON.stringify(source), `${error.message[0]!.toUpperCase()}${error.message.slice(1)}.`));
  }
  if (compiled.size >= 256) compiled.delete(compiled.keys().next().value!);
  compiled.set(key, pattern);
  return pattern;
}

function checkModuleSpec(where: string, field: string, value: unknown, allowAllLinear: boolean): void {
  if (value === null) return;
  if (typeof value === "string") {
    if (value === "all-linear" && !allowAllLinear) throw new InvalidArgumentError(where, expected(`${field} to be a list of names or a regex`, describeValue(value)));
    if (value !== "all-linear") compilePattern(where, field, value);
    return;
  }
  if (Array.isArray(value) && value.every((v) => typeof v === "string" && v.length > 0)) {
    if (field === "target_modules" && value.length === 0) throw new InvalidArgumentError(where, expected("target_modules to name at least one module", "[]"));
    return;
  }
  throw new InvalidArgumentError(
    where,
    expected(`${field} to be ${allowAllLinear ? 'null, "all-linear", ' : "null, "}a list of module names or suffixes (e.g. ["q_proj", "v_proj"]), or a regex string matched against the full module path`, describeValue(value)),
  );
}
