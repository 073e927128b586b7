// Loading and saving whole models: format auto-detection (HF folder or llama2.c .bin) and writing
// an HF folder (config.json + model.safetensors, replaced together as one atomic unit).
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { FileFormatError, InvalidArgumentError, TensorError, expected } from "../errors.js";
import { recoverFolder, writeFolderAtomic, type FileContents } from "../io/atomic_folder.js";
import { encodeSafetensors, float32Bytes, type SafetensorsTensor } from "../io/safetensors.js";
import { resolveBaseStorage, storeProjection, type BaseStorageOptions, type ResolvedBaseStorage } from "./base_storage.js";
import { configToHf, type LlamaConfig } from "./config.js";
import { readHfConfig, readHfFolder, readHfFolderInto, type LoadedWeights, type StoredWeights } from "./hf_loader.js";
import type { Linear } from "./linear.js";
import { LlamaModel, expectedWeightShapes, type LlamaModelOptions } from "./llama.js";
import { readLlama2c } from "./llama2c_loader.js";

/** The checkpoint formats loadModel reads. */
export type ModelFormat = "hf" | "llama2c";

/** Which format `path` holds: a folder (or a .safetensors / config.json inside one) is "hf", another file "llama2c". */
export function detectModelFormat(given: string): { format: ModelFormat; path: string } {
  const path = existsSync(given) ? given : existsSync(dirname(given)) ? recoverFolder(given) : join(recoverFolder(dirname(given)), basename(given));
  if (!existsSync(path)) throw new FileFormatError(path, expected("a model folder (Hugging Face) or a llama2.c .bin file", "nothing at that path"));
  if (statSync(path).isDirectory()) return { format: "hf", path };
  const name = basename(path);
  if (name.endsWith(".safetensors") || name === "config.json" || name.endsWith(".index.json")) return { format: "hf", path: dirname(path) };
  return { format: "llama2c", path };
}

/** The config of the checkpoint at `path`, to plan for it before loading: an HF folder's config.json (its weights are not read); a llama2.c file is read whole (its format is small models). */
export function readModelConfig(path: string): LlamaConfig {
  const found = detectModelFormat(path);
  return found.format === "hf" ? readHfConfig(found.path) : readLlama2c(found.path).config;
}

/** Reads a checkpoint's config and float32 weights without building tensors. */
export function readCheckpoint(path: string): LoadedWeights & { format: ModelFormat } {
  const found = detectModelFormat(path);
  const loaded = found.format === "hf" ? readHfFolder(found.path) : readLlama2c(found.path);
  return { ...loaded, format: found.format };
}

/** Options of {@link loadModel}: the model's, plus the storage its projections are converted to while reading. */
export interface LoadModelOptions extends LlamaModelOptions, BaseStorageOptions {}

/**
 * Loads a Hugging Face LlamaForCausalLM folder or a llama2.c .bin (auto-detected) as a LlamaModel.
 * `dtype: "bf16"` (or "f16") stores every projection in 16 bits and `quantize: { type: "nf4", doubleQuant: true }`
 * in 4 bits, each converted as it is read from a safetensors file, so the float32 copy of the whole model
 * never exists: loading peaks at the final model plus about one tensor. The result equals loading in
 * float32 and then calling toLora16Model / toQloraModel's conversion. llama2.c files are read whole (their
 * format is float32 only), then converted one projection at a time.
 */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<LlamaModel> {
  const { dtype, quantize, ...modelOptions } = options;
  const storage = resolveBaseStorage({ dtype, quantize }, "loadModel");
  if (storage.kind !== "f32" && modelOptions.trainable === "all") {
    throw new InvalidArgumentError("loadModel", expected('trainable "none" with a 16-bit or 4-bit base', 'trainable "all"', "Full fine-tuning trains float32 weights; load without dtype or quantize."));
  }
  const found = detectModelFormat(path);
  const { config, weights, linears } = found.format === "hf" ? readHfFolderInto(found.path, storage) : storeLlama2c(found.path, storage);
  try {
    return new LlamaModel(config, weights, { ...modelOptions, linears: new Map([...(modelOptions.linears ?? []), ...linears]) });
  } catch (error) {
    for (const linear of linears.values()) linear.dispose();
    // The model names the tensor; the caller also needs to know which checkpoint holds it.
    if (error instanceof TensorError) throw new TensorError(path, error.message.slice(error.where.length + 2));
    throw error;
  }
}

/** A llama2.c checkpoint with its projections moved, one at a time, out of the float32 map into `storage`. */
function storeLlama2c(path: string, storage: ResolvedBaseStorage): StoredWeights {
  const { config, weights } = readLlama2c(path);
  const linears = new Map<string, Linear>();
  try {
    for (const [name, shape] of expectedWeightShapes(config)) {
      if (shape.length !== 2 || name === "model.embed_tokens.weight") continue;
      const moduleName = name.slice(0, -".weight".length);
      const linear = storeProjection(moduleName, weights.get(name)!, [shape[0]!, shape[1]!], storage, path);
      if (!linear) continue;
      linears.set(moduleName, linear);
      weights.delete(name);
    }
  } catch (error) {
    for (const linear of linears.values()) linear.dispose();
    throw error;
  }
  return { config, weights, linears };
}

/** Writes `model` as a Hugging Face folder (config.json + model.safetensors); dense weights (LoRA merged as its layers report). */
export async function saveModel(model: LlamaModel, dir: string): Promise<void> {
  const dense = model.denseWeights();
  try {
    const tensors = new Map<string, SafetensorsTensor>();
    for (const [name, tensor] of dense) tensors.set(name, { dtype: "F32", shape: tensor.shape, data: float32Bytes((await tensor.data()) as Float32Array) });
    // Both files as one unit: new weights beside an old config.json would not load.
    writeFolderAtomic(
      dir,
      new Map<string, FileContents>([
        ["model.safetensors", encodeSafetensors(tensors, { format: "pt" })],
        ["config.json", `${JSON.stringify(configToHf(model.config), null, 2)}\n`],
      ]),
      "saveModel",
    );
  } finally {
    for (const tensor of dense.values()) tensor.dispose();
  }
}
