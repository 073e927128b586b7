// qlora-lab's public surface: everything a notebook cell or a plain Node script can use.
// Grouped by concept; each group is its own folder under lib/.

// Errors
export { QloraLabError, InvalidArgumentError, TensorError, FileFormatError, UnavailableError, MemoryLimitError } from "./errors.js";

// Backend, and tfjs-core with its chained tensor methods (t.square().sum())
export * as tf from "./tf.js";
export { resolveBackend, formatBackendReport, type BackendReport, type BackendChoice, type BackendCandidate } from "./backend.js";
export { installRuntime, type RuntimeReport } from "./runtime.js";

// File formats
export { SafetensorsFile, writeSafetensors, encodeSafetensors, type SafetensorsTensor, type SafetensorsEntry, type SafetensorsDtype } from "./io/safetensors.js";
export { writeFileAtomic } from "./io/atomic_write.js";

// One group per concept folder.
export * from "./ops/index.js";
export * from "./quant/index.js";
export * from "./model/index.js";
export * from "./lora/index.js";
export * from "./optim/index.js";
export * from "./memory/index.js";
export * from "./plan/index.js";
export * from "./train/index.js";
export * from "./data/index.js";
export * from "./viz/index.js";
export * from "./recipe/index.js";
export * from "./ladder/index.js";
