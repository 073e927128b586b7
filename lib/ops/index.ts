// lib/ops' public surface: the compute layer under every model (gradient registration, NN matrix products).
export { registerAllGradients } from "./register_gradients.js";
export { matMulNN } from "./matmul.js";
export { WASM_HEAP_LIMIT_BYTES, guardWasmHeap, heapLimitError } from "./wasm_heap_limit.js";
