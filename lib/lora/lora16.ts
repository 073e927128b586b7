// 16-bit LoRA: the article's LoRA baseline. The frozen base linears are stored in bfloat16 (or float16)
// as a model loaded with torch_dtype=bfloat16 holds them, one layer at a time so the float32 copy of
// only one layer exists at once; LoRA A and B, their gradients and the optimizer state stay float32,
// as in the QLoRA recipe. Embeddings and norms stay float32 here (they are a small share of a real
// model's parameters; the ledger reports them as base_dense).
import { InvalidArgumentError, expected } from "../errors.js";
import { HalfLinear, type HalfDtype } from "../model/half_linear.js";
import { QuantizedLinear } from "../model/quantized_linear.js";
import type { LoraConfig } from "./config.js";
import { LoraLinear } from "./lora_linear.js";
import { LoraModel, toLoraModel, type AdaptableModel, type ToLoraModelOptions } from "./lora_model.js";

/** What toLora16Model stored in 16 bits. */
export interface HalfPrecisionBase {
  dtype: HalfDtype;
  /** Module paths whose weights are now 16-bit. */
  modules: string[];
}

/** Stores every base linear of `model` in `dtype` (default bf16), then adds LoRA adapters as {@link toLoraModel}. Changes `model` in place. */
export function toLora16Model<M extends AdaptableModel>(model: M, config: Partial<LoraConfig> | LoraConfig = {}, dtype: HalfDtype = "bf16", options: ToLoraModelOptions = {}): LoraModel<M> & { base16: HalfPrecisionBase } {
  const modules = halfPrecisionBaseLinears(model, dtype);
  const lora = toLoraModel(model, config, options) as LoraModel<M> & { base16: HalfPrecisionBase };
  lora.base16 = { dtype, modules };
  return lora;
}

/** Replaces each dense base linear by a {@link HalfLinear} of `dtype`; returns the module paths. */
export function halfPrecisionBaseLinears(model: AdaptableModel, dtype: HalfDtype): string[] {
  if (dtype !== "bf16" && dtype !== "f16") throw new InvalidArgumentError("toLora16Model", expected('dtype "bf16" or "f16"', JSON.stringify(dtype)));
  const done: string[] = [];
  for (const [path, linear] of model.linears()) {
    if (linear instanceof HalfLinear) continue;
    if (linear instanceof LoraLinear) throw new InvalidArgumentError("toLora16Model", expected("a model without LoRA layers", `a LoraLinear at "${path}"`, "Store the base in 16 bits before adding adapters."));
    if (linear instanceof QuantizedLinear) throw new InvalidArgumentError("toLora16Model", expected("a dense base", `a 4-bit layer at "${path}"`));
    const weight = linear.denseWeight(); // [out, in], the one transient float32 copy
    const values = weight.dataSync() as Float32Array;
    const shape = [weight.shape[0], weight.shape[1]] as const;
    weight.dispose();
    model.setLinear(path, HalfLinear.fromFloat32(values, shape, dtype, { name: path })).dispose();
    done.push(path);
  }
  return done;
}
