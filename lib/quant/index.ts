// lib/quant's public surface (grouped, explicit exports).

// Dynamic 8-bit maps and blockwise 8-bit quantization (double quantization, 8-bit optimizer state).
export { createDynamicMap, signedDynamicMap, unsignedDynamicMap, quantizeBlockwise8bit, dequantizeBlockwise8bit } from "./dynamic_map.js";
export type { DynamicMapOptions, Blockwise8bit } from "./dynamic_map.js";
export { prepareCodeSearch, searchMidpoints } from "./code_search.js";
export type { CodeSearch } from "./code_search.js";

// Reproducible random data for experiments.
export { seededNormal, xoshiro128ss } from "./random_normal.js";
