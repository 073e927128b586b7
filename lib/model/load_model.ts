// Loading and saving whole models: format auto-detection (HF folder or llama2.c .bin) and writing
// an HF folder (config.json + model.safetensors, replaced together as one atomic unit).
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { FileFormatError, TensorError, expected } from "../errors.js";
import { recoverFolder, writeFolderAtomic, type FileContents } from "../io/atomic_folder.js";
import { encodeSafetensors, float32Bytes, type SafetensorsTensor } from "../io/safetensors.js";
import { configToHf } from "./config.js";
import { readHfFolder, type LoadedWeights } from "./hf_loader.js";
import { LlamaModel, type LlamaModelOptions } from "./llama.js";
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

/** Reads a checkpoint's config and float32 weights without building tensors. */
export function readCheckpoint(path: string): LoadedWeights & { format: ModelFormat } {
  const found = detectModelFormat(path);
  const loaded = found.format === "hf" ? readHfFolder(found.path) : readLlama2c(found.path);
  return { ...loaded, format: found.format };
}

/** Loads a Hugging Face LlamaForCausalLM folder or a llama2.c .bin (auto-detected) as a LlamaModel. */
export async function loadModel(path: string, options: LlamaModelOptions = {}): Promise<LlamaModel> {
  const { config, weights } = readCheckpoint(path);
  try {
    return new LlamaModel(config, weights, options);
  } catch (error) {
    // The model names the tensor; the caller also needs to know which checkpoint holds it.
    if (error instanceof TensorError) throw new TensorError(path, error.message.slice(error.where.length + 2));
    throw error;
  }
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
