// Models of published shapes with random weights, built straight into the storage a run uses: each
// projection is drawn in float32 and converted to 16 or 4 bits before the next is drawn, so no float32
// copy of the whole model ever exists. They measure memory and speed at real sizes, never quality.
// Weights are N(0, 0.02) (Hugging Face's initializer_range), norms 1, seeded and reproducible.
import { InvalidArgumentError, expected } from "../errors.js";
import { quantize4bit, type QuantType } from "../quant/index.js";
import { seededNormalZiggurat } from "../quant/random_normal.js";
import type { LlamaConfig } from "./config.js";
import { HalfLinear } from "./half_linear.js";
import type { Linear } from "./linear.js";
import { LlamaModel, expectedWeightShapes } from "./llama.js";
import { presetConfig } from "./presets.js";
import { QuantizedLinear } from "./quantized_linear.js";

/** How the projections are stored: float32, 16-bit, or 4-bit (bitsandbytes' layout). */
export type BaseStorage = "f32" | "bf16" | "f16" | "nf4" | "fp4";

/** Options of {@link randomModel}. */
export interface RandomModelOptions {
  /** Default "f32". */
  storage?: BaseStorage;
  /** 4-bit storage: quantize the absmax scales too (default true, as QLoRA). */
  doubleQuant?: boolean;
  /** 4-bit storage: values per absmax block (default 64). */
  blocksize?: number;
  /** Projections kept in float32 whatever the storage (default: ["lm_head"] for 4 bits, as toQloraModel keeps the head; none for 16 bits, as toLora16Model). */
  keepFloat32?: string[];
  seed?: number;
}

const STORAGES: readonly BaseStorage[] = ["f32", "bf16", "f16", "nf4", "fp4"];

/** A model of `shape` (a preset name or a config) with seeded random weights in `storage`. */
export function randomModel(shape: string | LlamaConfig, options: RandomModelOptions = {}): LlamaModel {
  const config = typeof shape === "string" ? presetConfig(shape) : shape;
  const storage = options.storage ?? "f32";
  if (!STORAGES.includes(storage)) throw new InvalidArgumentError("randomModel", expected(`storage ${STORAGES.map((s) => `"${s}"`).join(", ")}`, JSON.stringify(storage)));
  const keep = new Set(options.keepFloat32 ?? (storage === "nf4" || storage === "fp4" ? ["lm_head"] : []));
  const seed = options.seed ?? 0;
  const dense = new Map<string, Float32Array>();
  const linears = new Map<string, Linear>();
  let index = 0;
  let scratch = new Float32Array(0);
  for (const [name, dims] of expectedWeightShapes(config)) {
    index++;
    if (dims.length === 1) {
      dense.set(name, new Float32Array(dims[0]!).fill(1));
      continue;
    }
    const path = name.slice(0, -".weight".length);
    const n = dims[0]! * dims[1]!;
    if (name === "model.embed_tokens.weight" || storage === "f32" || keep.has(path)) {
      dense.set(name, seededNormalZiggurat(n, seed * 100_003 + index, { std: 0.02 })); // [out, in], kept
      continue;
    }
    // Drawn into one reused scratch buffer: converting copies it, so no projection's float32 draw is left for the collector.
    if (scratch.length < n) scratch = new Float32Array(n);
    const values = seededNormalZiggurat(n, seed * 100_003 + index, { std: 0.02, out: scratch }); // [out, in]
    const size = [dims[0]!, dims[1]!] as const;
    linears.set(
      path,
      storage === "bf16" || storage === "f16"
        ? HalfLinear.fromFloat32(values, size, storage, { name: path })
        : new QuantizedLinear(quantize4bit(values, [...size], { quantType: storage as QuantType, doubleQuant: options.doubleQuant ?? true, blocksize: options.blocksize ?? 64, name: path }), { name: path }),
    );
  }
  return new LlamaModel(config, dense, { linears });
}
