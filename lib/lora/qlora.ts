// QLoRA (Dettmers et al. 2023, section 3): base linears quantized to 4 bits (NF4 or FP4, optionally
// double-quantized) one layer at a time, then LoRA adapters on top in float32.
import { InvalidArgumentError, expected } from "../errors.js";
import { QuantizedLinear } from "../model/quantized_linear.js";
import { quantize4bit, type QuantType } from "../quant/index.js";
import { isWeightBasedInit, validateLoraConfig, type LoraConfig } from "./config.js";
import { LoraLinear } from "./lora_linear.js";
import { LoraModel, toLoraModel, type AdaptableModel, type ToLoraModelOptions } from "./lora_model.js";
import { matchesModuleName, selectTargetModules } from "./target_modules.js";

/** How the base is quantized (bitsandbytes' BnbConfig in spirit). */
export interface QloraQuantOptions {
  /** "nf4" (default, the QLoRA data type) or "fp4" (or "int4" for comparison). */
  quantType?: QuantType;
  /** Quantize the absmax scales too (default true, as the QLoRA recipe). */
  doubleQuant?: boolean;
  /** Values per absmax block (default 64). */
  blocksize?: number;
  /** Linears kept in float32 (default ["lm_head"], as transformers' llm_int8_skip_modules). */
  skipModules?: string[];
}

/** The QLoRA defaults: NF4, double quantization, blocks of 64, the head left in float32. */
export const defaultQloraQuantOptions: Readonly<Required<QloraQuantOptions>> = Object.freeze({ quantType: "nf4", doubleQuant: true, blocksize: 64, skipModules: ["lm_head"] });

/** What toQloraModel quantized. */
export interface QloraQuantization extends Required<QloraQuantOptions> {
  /** Module paths whose weights are now 4-bit. */
  modules: string[];
}

/**
 * Quantizes every base linear of `model` (but skipModules) to 4 bits, one layer at a time so the
 * float32 copy of only one layer exists at once, then adds LoRA adapters as {@link toLoraModel}.
 * Changes `model` in place; its float32 linear weights are freed.
 */
export function toQloraModel<M extends AdaptableModel>(model: M, config: Partial<LoraConfig> | LoraConfig = {}, quant: QloraQuantOptions = {}, options: ToLoraModelOptions = {}): LoraModel<M> & { quantization: QloraQuantization } {
  const settings = { ...defaultQloraQuantOptions, ...quant };
  if (settings.quantType !== "nf4" && settings.quantType !== "fp4" && settings.quantType !== "int4") {
    throw new InvalidArgumentError("toQloraModel", expected('quantType "nf4", "fp4" or "int4"', JSON.stringify(settings.quantType)));
  }
  const resolved = validateLoraConfig(config, { where: "toQloraModel" });
  if (!isWeightBasedInit(resolved.init_lora_weights)) {
    const quantized = quantizeBaseLinears(model, settings);
    const lora = toLoraModel(model, resolved, options) as LoraModel<M> & { quantization: QloraQuantization };
    lora.quantization = { ...settings, modules: quantized };
    return lora;
  }
  // PiSSA and LoftQ need W itself: the targets stay dense until their init quantizes the residual
  // (QPiSSA) or builds the backbone (LoftQ); every other linear is quantized first, as usual.
  const targets = selectTargetModules(model.linears().keys(), resolved, { where: "toQloraModel" });
  const others = quantizeBaseLinears(model, { ...settings, skipModules: [...settings.skipModules, ...targets] });
  const lora = toLoraModel(model, resolved, { ...options, baseQuantization: settings }) as LoraModel<M> & { quantization: QloraQuantization };
  const fromInit = targets.filter((path) => !settings.skipModules.some((s) => matchesModuleName(path, s)));
  lora.quantization = { ...settings, modules: [...model.linears().keys()].filter((path) => others.includes(path) || fromInit.includes(path)) };
  return lora;
}

/** Replaces each dense linear (but skipModules) by a QuantizedLinear; returns the quantized module paths. */
export function quantizeBaseLinears(model: AdaptableModel, quant: QloraQuantOptions = {}): string[] {
  const settings = { ...defaultQloraQuantOptions, ...quant };
  const done: string[] = [];
  for (const [path, linear] of model.linears()) {
    if (linear instanceof QuantizedLinear || settings.skipModules.some((s) => matchesModuleName(path, s))) continue;
    if (linear instanceof LoraLinear) throw new InvalidArgumentError("toQloraModel", expected("a model without LoRA layers", `a LoraLinear at "${path}"`, "Quantize the base before adding adapters."));
    const weight = linear.denseWeight(); // [out, in], the one transient float32 copy
    const values = weight.dataSync() as Float32Array;
    const shape = [...weight.shape];
    weight.dispose();
    const q = quantize4bit(values, shape, { quantType: settings.quantType, blocksize: settings.blocksize, doubleQuant: settings.doubleQuant, name: path });
    model.setLinear(path, new QuantizedLinear(q, { name: path })).dispose();
    done.push(path);
  }
  return done;
}
