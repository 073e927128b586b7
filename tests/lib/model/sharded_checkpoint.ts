// Writes a model as a sharded Hugging Face bfloat16 checkpoint (config.json, model-0000k-of-0000n.safetensors
// and model.safetensors.index.json, as transformers' save_pretrained lays them out), one tensor at a
// time: what a published bf16 model looks like on disk, made from a random-weight preset.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../../lib/io/atomic_write.js";
import { float32ToBfloat16 } from "../../../lib/io/half_precision.js";
import { writeSafetensors, type SafetensorsTensor } from "../../../lib/io/safetensors.js";
import { HalfLinear, configToHf, expectedWeightShapes, type LlamaModel } from "../../../lib/model/index.js";

/** bfloat16 bits of the tensor `name` of `model`; 16-bit projections are taken as they are. */
function bfloat16Of(model: LlamaModel, name: string): Uint16Array {
  if (name === "model.embed_tokens.weight") return float32ToBfloat16(model.embedding.dataSync() as Float32Array);
  const norm = model.normWeights().get(name);
  if (norm) return float32ToBfloat16(norm.dataSync() as Float32Array);
  const linear = model.linear(name.slice(0, -".weight".length));
  if (linear instanceof HalfLinear && linear.dtype === "bf16") return linear.bits;
  const dense = linear.denseWeight();
  const bits = float32ToBfloat16(dense.dataSync() as Float32Array);
  dense.dispose();
  return bits;
}

/** Writes `model` into `dir` in shards of about `shardBytes` each; returns the shard file names. */
export function writeShardedBf16(model: LlamaModel, dir: string, shardBytes: number): string[] {
  mkdirSync(dir, { recursive: true });
  const groups: string[][] = [[]];
  let filled = 0;
  for (const [name, shape] of expectedWeightShapes(model.config)) {
    const bytes = 2 * shape.reduce((a, b) => a * b, 1);
    if (filled > 0 && filled + bytes > shardBytes) {
      groups.push([]);
      filled = 0;
    }
    groups.at(-1)!.push(name);
    filled += bytes;
  }
  const files = groups.map((_, i) => `model-${String(i + 1).padStart(5, "0")}-of-${String(groups.length).padStart(5, "0")}.safetensors`);
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  groups.forEach((names, i) => {
    const tensors = new Map<string, SafetensorsTensor>();
    for (const name of names) {
      const data = bfloat16Of(model, name);
      tensors.set(name, { dtype: "BF16", shape: expectedWeightShapes(model.config).get(name)!, data });
      weightMap[name] = files[i]!;
      totalSize += data.byteLength;
    }
    writeSafetensors(join(dir, files[i]!), tensors, { format: "pt" });
  });
  writeFileAtomic(join(dir, "model.safetensors.index.json"), `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2)}\n`);
  writeFileAtomic(join(dir, "config.json"), `${JSON.stringify({ ...configToHf(model.config), torch_dtype: "bfloat16" }, null, 2)}\n`);
  return files;
}
