// lib/lora's public surface (grouped, explicit exports).

// Configuration (PEFT field names) and target-module rules.
export { defaultLoraConfig, validateLoraConfig, loraScaling, rankAndAlphaFor, isWeightBasedInit, pissaPowerIterations, LLAMA_DEFAULT_TARGET_MODULES } from "./config.js";
export type { LoraConfig, LoraInit, LoftqConfig, ValidateLoraConfigOptions } from "./config.js";
export { isTargetModule, selectTargetModules, layerIndexOf, matchesModuleName } from "./target_modules.js";
export type { SelectTargetOptions } from "./target_modules.js";

// The delta, the layer, initialisation.
export { loraDelta } from "./delta.js";
export type { LoraFactors } from "./delta.js";
export { LoraLinear, LoraAdapter } from "./lora_linear.js";
export type { LoraAdapterSpec } from "./lora_linear.js";
export { initLoraValues, moduleSeed } from "./init.js";

// Initialisations from the weight itself (PiSSA, LoftQ) and the SVDs behind them.
export { pissaFactors } from "./pissa.js";
export type { PissaFactors } from "./pissa.js";
export { loftqFactors } from "./loftq.js";
export type { LoftqFactors } from "./loftq.js";
export { initFromWeight, LOFTQ_PEFT_QUANTIZATION } from "./weight_init.js";
export type { BaseQuantization, WeightInit } from "./weight_init.js";
export { svd, randomizedSvd, truncateSvd, matrixFrom } from "./svd.js";
export type { Matrix, Svd } from "./svd.js";
export { saveBaseModel } from "./save_base.js";

// Models with adapters.
export { LoraModel, toLoraModel, freezeBase, PEFT_PREFIX } from "./lora_model.js";
export type { AdaptableModel, AddAdapterOptions, ToLoraModelOptions } from "./lora_model.js";

// PEFT adapter folders.
export { saveAdapter, loadAdapter, readAdapterConfig, peftConfigJson, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE } from "./adapter_io.js";
export type { SaveAdapterOptions, LoadAdapterOptions, SavedAdapter } from "./adapter_io.js";

// Parameter counts.
export { countParameters, formatParameterCount } from "./count.js";
export type { ParameterCount, ParameterGroup, ParamBytes } from "./count.js";

// QLoRA: the 4-bit base.
export { toQloraModel, quantizeBaseLinears, defaultQloraQuantOptions } from "./qlora.js";
export type { QloraQuantOptions, QloraQuantization } from "./qlora.js";
export { toLora16Model, halfPrecisionBaseLinears, type HalfPrecisionBase } from "./lora16.js";

// Merging.
export { mergeAndUnload, requantizeMerge, round16Merge, type BaseKind } from "./merge.js";
export type { MergeStrategy, MergeOptions, MergeResult, MergeLayerReport, RequantizeMetrics } from "./merge.js";
