// lib/quant's public surface (grouped, explicit exports).

// Code books (NF4, FP4, INT4, user books).
export { CODEBOOKS, QUANT_TYPES, codeBook, identifyCodeBook } from "./codebooks.js";
export type { QuantType, CodeBook } from "./codebooks.js";

// Blockwise 4-bit kernels and double quantization.
export { BLOCKSIZES, validateBlocksize, quantizeBlockwise4bit, dequantizeBlockwise4bit } from "./blockwise_4bit.js";
export type { Packed4bit, Blockwise4bitOptions } from "./blockwise_4bit.js";
export { NESTED_BLOCKSIZE, doubleQuantize, dequantizeAbsmax } from "./double_quant.js";
export type { NestedAbsmax } from "./double_quant.js";

// The quantized tensor.
export { QuantizedTensor, quantize4bit, quantized4bitBytes, defaultQuantize4bitOptions, defaultZeroBlockByte } from "./quantized_tensor.js";
export type { Quantize4bitOptions, QuantState4bit } from "./quantized_tensor.js";

// Dynamic 8-bit maps and blockwise 8-bit quantization (double quantization, 8-bit optimizer state).
export { createDynamicMap, signedDynamicMap, unsignedDynamicMap, quantizeBlockwise8bit, dequantizeBlockwise8bit } from "./dynamic_map.js";
export type { DynamicMapOptions, Blockwise8bit } from "./dynamic_map.js";
export { prepareCodeSearch, searchMidpoints } from "./code_search.js";
export type { CodeSearch } from "./code_search.js";

// Reproducible random data for experiments.
export { seededNormal, seededNormalZiggurat, xoshiro128ss } from "./random_normal.js";

// Error introspection.
export { quantizationError, errorOf, compareQuantTypes, codeHistogram } from "./quant_error.js";
export type { QuantErrorReport } from "./quant_error.js";

// bitsandbytes / transformers 4-bit safetensors.
export { bnb4bitTensors, quantStateJson, bnb4bitWeightNames, quantizedTensorFromBnb, writeBnb4bitSafetensors, openBnb4bitSafetensors, readBnb4bitSafetensors, pythonFloatRepr } from "./bnb_safetensors.js";
export type { BnbQuantState, Bnb4bitCheckpoint, Float32TensorData } from "./bnb_safetensors.js";
