// PEFT adapter folders (PeftModel.save_pretrained / from_pretrained): adapter_config.json plus
// adapter_model.safetensors with tensors base_model.model.<module>.lora_A.weight [r, in] / lora_B.weight [out, r].
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { FileFormatError, InvalidArgumentError, TensorError, describeValue, expected } from "../errors.js";
import { recoverFolder, writeFolderAtomic, type FileContents } from "../io/atomic_folder.js";
import { SafetensorsFile, encodeSafetensors, float32Bytes, type SafetensorsEntry, type SafetensorsTensor } from "../io/safetensors.js";
import { FLOAT32_MAX, requireFiniteValues } from "../validate.js";
import { loraScaling, pissaPowerIterations, rankAndAlphaFor, validateLoraConfig, type LoraConfig } from "./config.js";
import { LoraModel, PEFT_PREFIX, freezeBase, type AdaptableModel } from "./lora_model.js";
import { resolvedTargetModules, selectTargetModules } from "./target_modules.js";

/** File names PEFT uses inside an adapter folder. */
export const ADAPTER_CONFIG_FILE = "adapter_config.json";
/** The safetensors file of an adapter folder. */
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";

/** Options of {@link saveAdapter}. */
export interface SaveAdapterOptions {
  /** Which adapter to save (default: the active one). */
  adapterName?: string;
  /** Written as base_model_name_or_path (default: the config's value). */
  baseModelNameOrPath?: string;
  /**
   * PEFT's path_initial_model_for_weight_conversion: the folder of the PiSSA adapter as it was
   * before training (saved then with saveAdapter). The adapter is written as a plain LoRA adapter on
   * the original base: lora_A = [A; A0], lora_B = [B, -B0], r and lora_alpha doubled (alpha times
   * sqrt 2 with rsLoRA), init_lora_weights true; so scaling * (B A - B0 A0) = the change training made.
   */
  pathInitialModelForWeightConversion?: string;
}

/** Options of {@link loadAdapter}. */
export interface LoadAdapterOptions {
  /** Name the loaded adapter gets (default "default", as PEFT). */
  adapterName?: string;
  /** Whether A and B train afterwards (default false, PEFT's is_trainable). */
  trainable?: boolean;
  /** Make the loaded adapter the active one (default true). */
  activate?: boolean;
  /** Seed of the adapter's dropout masks when it trains (default 0, as addAdapter). */
  seed?: number;
}

/** What saveAdapter wrote. */
export interface SavedAdapter {
  dir: string;
  adapterName: string;
  modules: string[];
  tensorCount: number;
  bytes: number;
}

/**
 * The adapter_config.json object PEFT writes for `config` (every key PEFT's LoraConfig
 * serialises, neutral values for features qlora-lab does not implement, keys sorted as PEFT sorts them).
 */
export function peftConfigJson(config: LoraConfig, adaptedModules: readonly string[], baseModelNameOrPath?: string): Record<string, unknown> {
  const json: Record<string, unknown> = {
    alpha_pattern: { ...config.alpha_pattern },
    auto_mapping: null,
    base_model_name_or_path: baseModelNameOrPath ?? config.base_model_name_or_path,
    bias: config.bias,
    corda_config: null,
    eva_config: null,
    exclude_modules: config.exclude_modules,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: config.init_lora_weights,
    layer_replication: null,
    layers_pattern: config.layers_pattern,
    layers_to_transform: config.layers_to_transform,
    loftq_config: { ...config.loftq_config },
    lora_alpha: config.lora_alpha,
    lora_bias: false,
    lora_dropout: config.lora_dropout,
    megatron_config: null,
    megatron_core: "megatron.core",
    modules_to_save: null,
    peft_type: "LORA",
    r: config.r,
    rank_pattern: { ...config.rank_pattern },
    revision: null,
    target_modules: resolvedTargetModules(config, adaptedModules),
    task_type: "CAUSAL_LM",
    trainable_token_indices: null,
    use_dora: false,
    use_rslora: config.use_rslora,
  };
  return Object.fromEntries(Object.entries(json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Writes one adapter as a PEFT folder (the two files replaced together, atomically); PEFT's from_pretrained loads it unchanged. */
export function saveAdapter(lora: LoraModel, dir: string, options: SaveAdapterOptions = {}): SavedAdapter {
  const where = "saveAdapter";
  const name = options.adapterName ?? lora.activeAdapter;
  const config = name === null ? undefined : lora.peftConfig.get(name);
  if (name === null || !config) throw new InvalidArgumentError(where, expected(`an adapter name (${lora.adapterNames.join(", ") || "none"})`, name === null ? "no active adapter" : JSON.stringify(name)));
  const modules = lora.adaptedModules(name);
  const layers = lora.loraLayers();
  const tensors = new Map<string, SafetensorsTensor>();
  for (const path of modules) {
    const adapter = layers.get(path)?.adapters.get(name);
    if (!adapter) throw new InvalidArgumentError(where, expected(`adapter "${name}" on "${path}"`, "none", "The model's linear was replaced outside the LoraModel."));
    tensors.set(`${PEFT_PREFIX}${path}.lora_A.weight`, { dtype: "F32", shape: [...adapter.loraA.shape], data: float32Bytes(adapter.loraA.dataSync() as Float32Array) });
    tensors.set(`${PEFT_PREFIX}${path}.lora_B.weight`, { dtype: "F32", shape: [...adapter.loraB.shape], data: float32Bytes(adapter.loraB.dataSync() as Float32Array) });
  }
  const initial = options.pathInitialModelForWeightConversion;
  const written = initial === undefined ? config : convertPissaToLora(config, tensors, initial, where);
  // Both files as one unit: new weights beside the old config would not load (rank mismatch).
  writeFolderAtomic(
    dir,
    new Map<string, FileContents>([
      [ADAPTER_WEIGHTS_FILE, encodeSafetensors(tensors, { format: "pt" })],
      [ADAPTER_CONFIG_FILE, `${JSON.stringify(peftConfigJson(written, modules, options.baseModelNameOrPath), null, 2)}\n`],
    ]),
    where,
  );
  let bytes = 0;
  for (const t of tensors.values()) bytes += t.data.byteLength;
  return { dir, adapterName: name, modules, tensorCount: tensors.size, bytes };
}

/**
 * PEFT's save_mutated_as_lora: turns a trained PiSSA adapter (in `tensors`, changed in place) into a
 * plain LoRA adapter for the original base, from the initial adapter in `initialFolder`. Returns the config to write.
 */
function convertPissaToLora(config: LoraConfig, tensors: Map<string, SafetensorsTensor>, initialFolder: string, where: string): LoraConfig {
  const init = config.init_lora_weights;
  if (!(init === true || pissaPowerIterations(init) !== undefined)) {
    throw new InvalidArgumentError(where, expected("a PiSSA adapter (init_lora_weights \"pissa\" or \"pissa_niter_N\") to convert to LoRA", JSON.stringify(init), init === "loftq" ? "LoftQ's base is the quantized backbone, not W minus the initial adapter, so the conversion would be wrong." : undefined));
  }
  if (config.use_rslora && (Object.keys(config.rank_pattern).length || Object.keys(config.alpha_pattern).length)) {
    throw new InvalidArgumentError(where, expected("no rank_pattern / alpha_pattern with use_rslora for the PiSSA conversion", "both", "PEFT refuses this combination too."));
  }
  requireFolderPath(initialFolder);
  const dir = recoverFolder(initialFolder);
  requireFolder(dir);
  const weightsPath = join(dir, ADAPTER_WEIGHTS_FILE);
  if (!existsSync(weightsPath)) throw new FileFormatError(weightsPath, expected(`the initial adapter's ${ADAPTER_WEIGHTS_FILE}`, "no such file", "Save the adapter right after PiSSA's initialisation, before training."));
  const file = SafetensorsFile.open(weightsPath);
  for (const [name, trained] of tensors) {
    if (!file.names().includes(name)) throw new FileFormatError(weightsPath, expected(`tensor "${name}" in the initial adapter`, "none", "The initial adapter must target the same modules."));
    const entry = file.entry(name);
    if (entry.shape.join(",") !== trained.shape.join(",")) throw new FileFormatError(weightsPath, expected(`"${name}" of shape [${trained.shape.join(", ")}]`, `[${entry.shape.join(", ")}]`, "The initial adapter must have the same ranks."));
    const now = new Float32Array(trained.data.buffer.slice(trained.data.byteOffset, trained.data.byteOffset + trained.data.byteLength));
    const start = file.readFloat32(name);
    const [rows, cols] = trained.shape as [number, number];
    if (name.endsWith(".lora_A.weight")) {
      // [A; A0]: [2r, in]
      const out = new Float32Array(2 * rows * cols);
      out.set(now, 0);
      out.set(start, rows * cols);
      tensors.set(name, { dtype: "F32", shape: [2 * rows, cols], data: float32Bytes(out) });
    } else {
      // [B, -B0]: [out, 2r]
      const out = new Float32Array(rows * 2 * cols);
      for (let i = 0; i < rows; i++) {
        for (let k = 0; k < cols; k++) {
          out[i * 2 * cols + k] = now[i * cols + k]!;
          out[i * 2 * cols + cols + k] = -start[i * cols + k]!;
        }
      }
      tensors.set(name, { dtype: "F32", shape: [rows, 2 * cols], data: float32Bytes(out) });
    }
  }
  const double = (pattern: Record<string, number>) => Object.fromEntries(Object.entries(pattern).map(([k, v]) => [k, 2 * v]));
  return {
    ...config,
    init_lora_weights: true,
    r: 2 * config.r,
    lora_alpha: config.use_rslora ? config.lora_alpha * Math.SQRT2 : 2 * config.lora_alpha,
    rank_pattern: double(config.rank_pattern),
    alpha_pattern: double(config.alpha_pattern),
  };
}

/** Reads and validates an adapter folder's adapter_config.json (unknown keys ignored, missing ones defaulted). */
export function readAdapterConfig(folder: string): LoraConfig {
  requireFolderPath(folder);
  const dir = recoverFolder(folder);
  requireFolder(dir);
  const path = join(dir, ADAPTER_CONFIG_FILE);
  if (!existsSync(path)) throw new FileFormatError(path, expected(`${ADAPTER_CONFIG_FILE} in the adapter folder`, "no such file", "A PEFT adapter folder holds adapter_config.json and adapter_model.safetensors."));
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new FileFormatError(path, expected("valid JSON", (error as Error).message));
  }
  try {
    return validateLoraConfig(raw as Record<string, unknown>, { allowUnknownKeys: true, forLoading: true, where: path });
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new FileFormatError(path, error.message.slice(path.length + 2));
    throw error;
  }
}

/**
 * Loads a PEFT adapter folder onto `target` (a plain model, which is wrapped, or a LoraModel, which
 * gains another named adapter). Every tensor must match a targeted module's shape and the config's rank.
 */
export function loadAdapter<M extends AdaptableModel>(target: M | LoraModel<M>, folder: string, options: LoadAdapterOptions = {}): LoraModel<M> {
  const config = readAdapterConfig(folder);
  const dir = recoverFolder(folder);
  const weightsPath = join(dir, ADAPTER_WEIGHTS_FILE);
  if (!existsSync(weightsPath)) {
    const hint = existsSync(join(dir, "adapter_model.bin"))
      ? "Only safetensors adapters are read; the folder has adapter_model.bin (a PyTorch pickle): re-save it with save_pretrained(..., safe_serialization=True)."
      : "A PEFT adapter folder holds adapter_config.json and adapter_model.safetensors.";
    throw new FileFormatError(weightsPath, expected(`${ADAPTER_WEIGHTS_FILE} in the adapter folder`, "no such file", hint));
  }
  const file = SafetensorsFile.open(weightsPath);
  const pairs = tensorPairs(file);
  const isLora = target instanceof LoraModel;
  const model = (isLora ? target.model : target) as M;
  const linears = model.linears();
  for (const path of pairs.keys()) {
    if (!linears.has(path)) {
      throw new FileFormatError(weightsPath, expected(`module "${path}" to exist in the model`, "no such linear", `The adapter was trained for another architecture; this model's linears look like "${[...linears.keys()][0] ?? ""}".`));
    }
  }
  let targeted: string[];
  try {
    targeted = selectTargetModules(linears.keys(), config, { where: join(dir, ADAPTER_CONFIG_FILE) });
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new FileFormatError(join(dir, ADAPTER_CONFIG_FILE), error.message.slice(error.where.length + 2));
    throw error;
  }
  for (const path of targeted) {
    if (!pairs.has(path)) throw new FileFormatError(weightsPath, expected(`lora_A and lora_B for module "${path}" (adapter_config.json targets it)`, "none", "The two files do not belong together."));
  }
  for (const path of pairs.keys()) {
    if (!targeted.includes(path)) throw new FileFormatError(weightsPath, expected(`only modules adapter_config.json targets (target_modules ${JSON.stringify(config.target_modules)})`, `tensors for "${path}"`, "The two files do not belong together."));
  }
  const values = new Map<string, { a: Float32Array; b: Float32Array }>();
  for (const path of targeted) {
    const { a, b } = pairs.get(path)!;
    const linear = linears.get(path)!;
    const { r, alpha } = rankAndAlphaFor(config, path);
    if (a.shape.length !== 2 || b.shape.length !== 2) throw new FileFormatError(weightsPath, expected(`2-D lora_A and lora_B for module "${path}"`, `[${a.shape.join(", ")}] and [${b.shape.join(", ")}]`));
    if (a.shape[1] !== linear.inFeatures || b.shape[0] !== linear.outFeatures) {
      throw new FileFormatError(
        weightsPath,
        expected(`lora_A [r, ${linear.inFeatures}] and lora_B [${linear.outFeatures}, r] for module "${path}" (its linear is [out ${linear.outFeatures}, in ${linear.inFeatures}])`, `lora_A [${a.shape.join(", ")}] and lora_B [${b.shape.join(", ")}]`, "Shape mismatch: the adapter was trained for a different base model."),
      );
    }
    if (a.shape[0] !== r || b.shape[1] !== r) {
      throw new FileFormatError(
        weightsPath,
        expected(`rank r = ${r} for module "${path}" (from adapter_config.json${Object.keys(config.rank_pattern).length ? " with rank_pattern" : ""})`, `lora_A [${a.shape.join(", ")}] and lora_B [${b.shape.join(", ")}]`, "Rank mismatch: adapter_config.json and adapter_model.safetensors disagree."),
      );
    }
    const factors = { a: file.readFloat32(a.name), b: file.readFloat32(b.name) };
    requireUsableFactors(weightsPath, path, { ...factors, aName: a.name, bName: b.name, r, scaling: loraScaling(r, alpha, config.use_rslora) });
    values.set(path, factors);
  }
  const lora = isLora ? (target as LoraModel<M>) : (freezeBase(model), new LoraModel(model));
  const name = options.adapterName ?? "default";
  const previous = lora.activeAdapter;
  lora.addAdapter(name, config, { values, trainable: options.trainable ?? false, seed: options.seed });
  if (options.activate ?? true) lora.setAdapter(name);
  else if (previous !== null) lora.setAdapter(previous);
  return lora;
}

/**
 * Refuses factors that would give garbage silently: a NaN or Infinity in lora_A or lora_B, or a
 * product B @ A * scaling whose entries could exceed float32 (|entry| <= r * max|A| * max|B| * |scaling|).
 */
function requireUsableFactors(file: string, module: string, f: { a: Float32Array; b: Float32Array; aName: string; bName: string; r: number; scaling: number }): void {
  const hint = "The adapter file is damaged, or was saved after training diverged.";
  requireFiniteValues(file, f.aName, f.a, hint);
  requireFiniteValues(file, f.bName, f.b, hint);
  const largest = (values: Float32Array) => values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const maxA = largest(f.a);
  const maxB = largest(f.b);
  const bound = f.r * maxA * maxB * Math.abs(f.scaling);
  if (!(bound <= FLOAT32_MAX)) {
    throw new TensorError(
      file,
      expected(`lora_B @ lora_A * scaling within float32 for module "${module}"`, `entries up to ${bound.toExponential(3)} (r ${f.r} x max |lora_A| ${maxA.toExponential(3)} x max |lora_B| ${maxB.toExponential(3)} x scaling ${f.scaling.toExponential(3)})`, "lora_alpha or the weights are far too large."),
    );
  }
}

/** lora_A / lora_B entries per module path, refusing tensors this loader does not understand. */
function tensorPairs(file: SafetensorsFile): Map<string, { a: SafetensorsEntry; b: SafetensorsEntry }> {
  const partial = new Map<string, { a?: SafetensorsEntry; b?: SafetensorsEntry }>();
  for (const name of file.names()) {
    const m = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/.exec(name);
    if (!m) {
      const hint = /lora_magnitude_vector/.test(name) ? "DoRA adapters are not supported." : /lora_embedding_|modules_to_save|\.bias$/.test(name) ? "Only LoRA on linear layers is supported." : 'Tensor names look like "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight".';
      throw new FileFormatError(file.path, expected("only LoRA tensors (base_model.model.<module>.lora_A.weight / lora_B.weight)", JSON.stringify(name), hint));
    }
    const entry = file.entry(name);
    const slot = partial.get(m[1]!) ?? {};
    if (m[2] === "A") slot.a = entry;
    else slot.b = entry;
    partial.set(m[1]!, slot);
  }
  if (partial.size === 0) throw new FileFormatError(file.path, expected("at least one lora_A / lora_B pair", "an empty file"));
  const out = new Map<string, { a: SafetensorsEntry; b: SafetensorsEntry }>();
  for (const [path, { a, b }] of partial) {
    if (!a || !b) throw new FileFormatError(file.path, expected(`both lora_A and lora_B for module "${path}"`, `only lora_${a ? "A" : "B"}`));
    out.set(path, { a, b });
  }
  return out;
}

function requireFolderPath(dir: unknown): void {
  if (typeof dir !== "string" || dir === "") throw new InvalidArgumentError("adapter folder", expected("a folder path (string)", describeValue(dir)));
}

function requireFolder(dir: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (error) {
    throw new FileFormatError(dir, expected("an adapter folder", (error as NodeJS.ErrnoException).code ?? "unreadable", "A PEFT adapter folder holds adapter_config.json and adapter_model.safetensors."));
  }
  if (!isDir) throw new FileFormatError(dir, expected("an adapter folder", "a file", "Pass the folder that holds adapter_config.json, not a file inside it."));
}

