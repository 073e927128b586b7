// How a loaded model stores its base projections: float32, 16-bit (bf16 / f16) or 4-bit. The loaders
// call storeProjection on each [out, in] weight as they read it, so the weight is converted before
// the next one is read and the float32 copy of the whole model never exists. The result is the same,
// bit for bit, as loading in float32 and converting afterwards (toLora16Model, toQloraModel).
import { InvalidArgumentError, expected } from "../errors.js";
import { requireFiniteValues } from "../validate.js";
import { QUANT_TYPES, quantize4bit, type QuantType } from "../quant/index.js";
import { HalfLinear, type HalfDtype } from "./half_linear.js";
import type { Linear } from "./linear.js";
import { NON_FINITE_WEIGHT_HINT } from "./llama.js";
import { QuantizedLinear } from "./quantized_linear.js";

/** 4-bit storage of the base projections, as QLoRA's BitsAndBytesConfig. */
export interface LoadQuantizeOptions {
  /** "nf4" (QLoRA's data type), "fp4" or "int4". */
  type: QuantType;
  /** Quantize the absmax scales too (default true, as the QLoRA recipe). */
  doubleQuant?: boolean;
  /** Values per absmax block (default 64). */
  blocksize?: number;
  /** Projections kept in float32 (default ["lm_head"], as transformers' llm_int8_skip_modules). */
  skipModules?: string[];
}

/** What loadModel converts the base to while reading: `dtype` (16-bit projections) or `quantize` (4-bit ones), not both. */
export interface BaseStorageOptions {
  /** "f32" (default) or a 16-bit storage for every projection, lm_head included; embeddings and norms stay float32. */
  dtype?: "f32" | HalfDtype;
  quantize?: LoadQuantizeOptions;
}

/** A checked storage choice. */
export type ResolvedBaseStorage = { kind: "f32" } | { kind: "half"; dtype: HalfDtype } | { kind: "4bit"; quantType: QuantType; doubleQuant: boolean; blocksize: number; skipModules: string[] };

const DTYPES = ["f32", "bf16", "f16"] as const;

/** Checks `options` (from `where`) and fills the 4-bit defaults. */
export function resolveBaseStorage(options: BaseStorageOptions, where: string): ResolvedBaseStorage {
  const { dtype, quantize } = options;
  if (dtype !== undefined && !DTYPES.includes(dtype)) throw new InvalidArgumentError(where, expected(`dtype ${DTYPES.map((d) => `"${d}"`).join(", ")}`, JSON.stringify(dtype)));
  if (quantize === undefined) return dtype === undefined || dtype === "f32" ? { kind: "f32" } : { kind: "half", dtype };
  if (dtype !== undefined && dtype !== "f32") throw new InvalidArgumentError(where, expected("either dtype or quantize", `dtype "${dtype}" and quantize`, "A 4-bit base has no 16-bit projections; keep one of them."));
  if (typeof quantize !== "object" || quantize === null) throw new InvalidArgumentError(where, expected('quantize as { type: "nf4", doubleQuant: true }', quantize));
  if (!QUANT_TYPES.includes(quantize.type)) throw new InvalidArgumentError(where, expected(`quantize.type ${QUANT_TYPES.map((t) => `"${t}"`).join(", ")}`, JSON.stringify(quantize.type)));
  return { kind: "4bit", quantType: quantize.type, doubleQuant: quantize.doubleQuant ?? true, blocksize: quantize.blocksize ?? 64, skipModules: quantize.skipModules ?? ["lm_head"] };
}

/**
 * The projection at module `path` built from its float32 [out, in] `values` in `storage`, or null when
 * it stays a dense float32 layer (float32 storage, or a 4-bit skip module such as lm_head, matched by
 * toQloraModel's suffix rule: the path itself or one ending in ".<name>"), which the
 * model then checks itself. `where` (the checkpoint) names the refusal of a NaN or Infinity.
 */
export function storeProjection(path: string, values: Float32Array, shape: readonly [number, number], storage: ResolvedBaseStorage, where: string): Linear | null {
  if (storage.kind === "f32") return null;
  if (storage.kind === "4bit" && storage.skipModules.some((s) => path === s || path.endsWith(`.${s}`))) return null;
  requireFiniteValues(where, `${path}.weight`, values, NON_FINITE_WEIGHT_HINT);
  if (storage.kind === "half") return HalfLinear.fromFloat32(values, shape, storage.dtype, { name: path });
  const q = quantize4bit(values, [...shape], { quantType: storage.quantType, blocksize: storage.blocksize, doubleQuant: storage.doubleQuant, name: path });
  return new QuantizedLinear(q, { name: path });
}
