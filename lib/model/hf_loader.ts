// Reads a Hugging Face LlamaForCausalLM folder: config.json plus model.safetensors or a sharded
// model.safetensors.index.json ({"weight_map": {tensor: shard file}}); F32/F16/BF16 become float32.
// Each tensor is read from its own byte range, and a projection is converted to its storage (16-bit
// or 4-bit, base_storage.ts) before the next is read: the float32 copy of one tensor exists at a time.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FileFormatError, TensorError, expected } from "../errors.js";
import { SafetensorsFile } from "../io/safetensors.js";
import { storeProjection, type ResolvedBaseStorage } from "./base_storage.js";
import { configFromHf, type LlamaConfig } from "./config.js";
import type { Linear } from "./linear.js";
import { expectedWeightShapes } from "./llama.js";

/** A checkpoint read into memory: its config and float32 weights keyed by Hugging Face parameter name. */
export interface LoadedWeights {
  config: LlamaConfig;
  weights: Map<string, Float32Array>;
}

/** A checkpoint read into its storage: float32 weights for what stays dense, built projections for the rest (by module path). */
export interface StoredWeights extends LoadedWeights {
  linears: Map<string, Linear>;
}

/** Reads config.json of an HF folder into a LlamaConfig (unsupported fields are named in the error). */
export function readHfConfig(dir: string): LlamaConfig {
  const path = join(dir, "config.json");
  if (!existsSync(path)) throw new FileFormatError(dir, expected("a Hugging Face model folder with config.json", `no config.json (found: ${listFolder(dir)})`));
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (error) {
    throw new FileFormatError(path, expected("valid JSON", (error as Error).message));
  }
  return configFromHf(json, path);
}

/** Reads an HF folder's config and float32 weights, checking each tensor's shape against the config. */
export function readHfFolder(dir: string): LoadedWeights {
  const { config, weights } = readHfFolderInto(dir, { kind: "f32" });
  return { config, weights };
}

/** Reads an HF folder with its projections converted to `storage` tensor by tensor, as they are read. */
export function readHfFolderInto(dir: string, storage: ResolvedBaseStorage): StoredWeights {
  const config = readHfConfig(dir);
  const shards = openShards(dir);
  const weights = new Map<string, Float32Array>();
  const linears = new Map<string, Linear>();
  try {
    readEach(dir, config, shards, storage, weights, linears);
  } catch (error) {
    for (const linear of linears.values()) linear.dispose();
    throw error;
  }
  return { config, weights, linears };
}

function readEach(dir: string, config: LlamaConfig, shards: Map<string, SafetensorsFile>, storage: ResolvedBaseStorage, weights: Map<string, Float32Array>, linears: Map<string, Linear>): void {
  for (const [name, shape] of expectedWeightShapes(config)) {
    const file = shards.get(name);
    if (!file) throw new FileFormatError(dir, expected(`tensor "${name}" in the checkpoint`, "none", "The checkpoint does not match config.json."));
    const entry = file.entry(name);
    if (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i])) {
      throw new TensorError(file.path, expected(`tensor "${name}" of shape [${shape.join(", ")}] (from config.json)`, `[${entry.shape.join(", ")}]`));
    }
    const values = file.readFloat32(name);
    const path = name.slice(0, -".weight".length);
    const linear = shape.length === 2 && name !== "model.embed_tokens.weight" ? storeProjection(path, values, [shape[0]!, shape[1]!], storage, dir) : null;
    if (linear) linears.set(path, linear);
    else weights.set(name, values);
  }
}

/** Tensor name -> the open safetensors file holding it. */
function openShards(dir: string): Map<string, SafetensorsFile> {
  const single = join(dir, "model.safetensors");
  const index = join(dir, "model.safetensors.index.json");
  const byName = new Map<string, SafetensorsFile>();
  if (existsSync(single)) {
    const file = SafetensorsFile.open(single);
    for (const name of file.entries.keys()) byName.set(name, file);
    return byName;
  }
  if (!existsSync(index)) throw new FileFormatError(dir, expected("model.safetensors or model.safetensors.index.json", `neither (found: ${listFolder(dir)})`, "PyTorch .bin checkpoints are not read; convert them to safetensors."));
  let weightMap: Record<string, string>;
  try {
    weightMap = (JSON.parse(readFileSync(index, "utf8")) as { weight_map: Record<string, string> }).weight_map;
  } catch (error) {
    throw new FileFormatError(index, expected("valid JSON", (error as Error).message));
  }
  if (!weightMap || typeof weightMap !== "object") throw new FileFormatError(index, expected('a "weight_map" object', weightMap));
  const files = new Map<string, SafetensorsFile>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (!files.has(shard)) {
      if (!existsSync(join(dir, shard))) throw new FileFormatError(index, expected(`the shard "${shard}" that weight_map names for "${name}"`, `no such file in ${dir}`, "The checkpoint is incomplete: a shard was not downloaded or was renamed."));
      files.set(shard, SafetensorsFile.open(join(dir, shard)));
    }
    byName.set(name, files.get(shard)!);
  }
  return byName;
}

function listFolder(dir: string): string {
  try {
    const names = readdirSync(dir);
    return names.length ? names.slice(0, 8).join(", ") + (names.length > 8 ? ", ..." : "") : "an empty folder";
  } catch {
    return "an unreadable folder";
  }
}
