// What qlora-lab installs into the process, once and explicitly (resolveBackend calls installRuntime;
// importing any module of the library installs nothing): tfjs-core's chained tensor methods on
// tf.Tensor.prototype, TF.js's gradient definitions, and the WebAssembly SIMD kernels, compiled.
import { DEQUANT_KERNEL } from "./quant/dequant_simd.js";
import { QUANT_KERNEL } from "./quant/quant_simd.js";
import { STATE_8BIT_KERNELS } from "./optim/state_8bit_simd.js";
import { registerAllGradients } from "./ops/register_gradients.js";
import { THIN_PRODUCT_KERNEL } from "./ops/thin_product.js";
import { guardWasmHeap } from "./ops/wasm_heap_limit.js";
import type { WasmKernel } from "./ops/wasm_kernel.js";
import { installChainedMethods } from "./tf.js";

/** What one {@link installRuntime} call did: counts are 0 once an earlier call installed everything. */
export interface RuntimeReport {
  /** Chained tensor methods (t.square().sum()) this call added to tf.Tensor.prototype. */
  chainedMethodsAdded: number;
  /** TF.js op gradients this call registered. */
  gradientsRegistered: number;
  /** Each WebAssembly SIMD kernel by name, and whether it compiled (false where WebAssembly SIMD is unavailable: scalar code runs instead). */
  wasmKernels: Record<string, boolean>;
}

/** The library's WebAssembly kernels by name. */
const KERNELS: Readonly<Record<string, WasmKernel>> = {
  "4-bit quantize": QUANT_KERNEL,
  "4-bit dequantize": DEQUANT_KERNEL,
  "thin product (LoRA weight gradients)": THIN_PRODUCT_KERNEL,
  "8-bit state quantize": STATE_8BIT_KERNELS.quant,
  "8-bit state dequantize": STATE_8BIT_KERNELS.dequant,
};

/**
 * Installs the chained tensor methods and TF.js's gradients, guards an active wasm backend's heap
 * (ops/wasm_heap_limit.ts) and compiles the WebAssembly kernels
 * (each kernel also compiles on its first use, so this only moves that cost to start-up). Idempotent.
 */
export function installRuntime(): RuntimeReport {
  guardWasmHeap(); // when the caller activated the wasm backend itself
  return {
    chainedMethodsAdded: installChainedMethods(),
    gradientsRegistered: registerAllGradients(),
    wasmKernels: Object.fromEntries(Object.entries(KERNELS).map(([name, kernel]) => [name, kernel.available()])),
  };
}
