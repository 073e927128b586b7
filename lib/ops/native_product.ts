// Which engine runs the library's matrix products (productNN in matmul.ts, so every forward and both
// gradients of matMulNN, matMulFrozen and the LoRA and 4-bit layers): the native engine
// (native/engine.ts) on TF.js's wasm or cpu backend when it loads, else the backend's own kernels.
// QLORA_LAB_PRODUCTS=tfjs forces the backend's kernels; QLORA_LAB_THREADS sets the native thread count.
// On wasm the native engine reads the operands in the wasm heap and writes the product into a tensor
// allocated there, so no buffer is copied or kept.
import * as tf from "@tensorflow/tfjs-core";
import { InvalidArgumentError, expected } from "../errors.js";
import { NATIVE_PACKAGE, loadNativeEngine, nativeThreads, type NativeEngine } from "./native/engine.js";
import { activeWasmBackend } from "./wasm_heap.js";
import { adoptTensor } from "./adopt_tensor.js";

/** Engines as QLORA_LAB_PRODUCTS names them. */
export type ProductEngineChoice = "native" | "tfjs";
const CHOICES: readonly ProductEngineChoice[] = ["native", "tfjs"];

/** Which engine does the products, on how many threads, and why. */
export interface ProductEngineReport {
  /** "onnxruntime-node 1.30.0" for the native engine, else "tfjs" (the active backend's kernels). */
  engine: string;
  /** The native engine's threads; 1 for TF.js's wasm and cpu kernels. */
  threads: number;
  /** Why this engine: forced, or why the native one was not used. */
  reason: string;
}

let configured: { report: ProductEngineReport; engine: NativeEngine | null } | undefined;

/**
 * Chooses the products' engine from QLORA_LAB_PRODUCTS (native | tfjs; unset: native where it loads)
 * and QLORA_LAB_THREADS, for the active TF.js backend; later products use it. resolveBackend calls it.
 */
export function configureProducts(env: Record<string, string | undefined> = process.env): ProductEngineReport {
  const raw = env.QLORA_LAB_PRODUCTS?.trim().toLowerCase() || undefined;
  if (raw !== undefined && !CHOICES.includes(raw as ProductEngineChoice)) {
    throw new InvalidArgumentError("configureProducts", expected(`QLORA_LAB_PRODUCTS to be one of ${CHOICES.join(", ")}`, JSON.stringify(env.QLORA_LAB_PRODUCTS)));
  }
  const threads = nativeThreads(env);
  const backend = tf.getBackend();
  const kernels = (reason: string) => ({ report: { engine: "tfjs", threads: 1, reason }, engine: null });
  if (raw === "tfjs") configured = kernels("forced by QLORA_LAB_PRODUCTS=tfjs");
  else if (backend !== "wasm" && backend !== "cpu") configured = kernels(`the ${backend} backend multiplies natively itself`);
  else {
    const load = loadNativeEngine(threads);
    configured = load.engine
      ? { report: { engine: `${NATIVE_PACKAGE} ${load.engine.version}`, threads, reason: raw === "native" ? "forced by QLORA_LAB_PRODUCTS=native" : "loaded" }, engine: load.engine }
      : kernels(load.reason);
    if (!load.engine && raw === "native") throw new InvalidArgumentError("configureProducts", expected("the native engine to load (QLORA_LAB_PRODUCTS=native)", load.reason, "Install onnxruntime-node or unset QLORA_LAB_PRODUCTS."));
  }
  return configured.report;
}

/** The engine later products use (configured from process.env on first use when nobody configured it). */
export function productEngineReport(): ProductEngineReport {
  if (!configured) configureProducts();
  return configured!.report;
}

/** The native engine when it is the configured engine and the backend it was configured for is still active. */
function activeNativeEngine(): NativeEngine | null {
  if (!configured) configureProducts();
  const backend = tf.getBackend();
  return backend === "wasm" || backend === "cpu" ? configured!.engine : null;
}

/**
 * Smallest m * k * n (per matrix, times the batch) for which the native engine runs a product: below
 * it both take about the same 12-15 microseconds a call on wasm, and the engine's call costs more for
 * tiny batches; from 64^3 up it is 2-13x faster (bench/products.ts).
 */
export const NATIVE_MIN_WORK = 32 * 32 * 32;

/** Whether the native engine runs op(a) [m, k] x op(b) [k, n] for `groups` matrices (see NATIVE_MIN_WORK). */
export function isNativeWork(groups: number, m: number, k: number, n: number): boolean {
  return groups * m * k * n >= NATIVE_MIN_WORK;
}

/**
 * op(a) @ op(b) on the native engine, for float32 a, b of the same rank (2, or 3 with the same batch),
 * when the engine is active and the product is large enough; else null (the caller uses TF.js).
 */
export function nativeProduct<T extends tf.Tensor>(a: T, b: T, transposeA: boolean, transposeB: boolean): T | null {
  if (a.dtype !== "float32" || b.dtype !== "float32" || a.rank !== b.rank || (a.rank !== 2 && a.rank !== 3)) return null;
  if (a.rank === 3 && a.shape[0] !== b.shape[0]) return null;
  const engine = activeNativeEngine();
  if (!engine) return null;
  const [a1, a2] = a.shape.slice(-2) as [number, number];
  const [b1, b2] = b.shape.slice(-2) as [number, number];
  const [m, k] = transposeA ? [a2, a1] : [a1, a2];
  const [kb, n] = transposeB ? [b2, b1] : [b1, b2];
  if (k !== kb) return null; // TF.js's own matMul reports the mismatch
  const groups = a.rank === 3 ? a.shape[0]! : 1;
  if (!isNativeWork(groups, m, k, n)) return null;
  const shape = a.rank === 3 ? [groups, m, n] : [m, n];
  const wasm = activeWasmBackend();
  if (wasm) {
    const { backend, memory } = wasm;
    const out = backend.makeOutput(shape, "float32");
    const view = (t: tf.TensorInfo, size: number) => new Float32Array(memory.buffer, backend.getMemoryOffset(t.dataId), size); // after the allocation: the heap may have grown
    engine.product({ data: view(a, a.size), shape: a.shape }, { data: view(b, b.size), shape: b.shape }, transposeA, transposeB, { data: view(out, groups * m * n), shape });
    return adoptTensor<T>(out, "nativeProduct");
  }
  const out = new Float32Array(groups * m * n);
  engine.product({ data: a.dataSync() as Float32Array, shape: a.shape }, { data: b.dataSync() as Float32Array, shape: b.shape }, transposeA, transposeB, { data: out, shape });
  return tf.tensor(out, shape, "float32") as T;
}

/** A [N, K] weight in bitsandbytes' 4-bit layout, as the native 4-bit product reads it. */
export interface Packed4bitWeight {
  codes: Uint8Array;
  /** One float32 absmax per block (double quantization undone). */
  absmax: Float32Array;
  K: number;
  N: number;
  blocksize: number;
  quantType: "nf4" | "fp4";
}

/**
 * x [m, K] @ deq(w)^T on the native engine's 4-bit product, when the engine is active on the wasm
 * backend; else null (the caller dequantizes and multiplies).
 */
export function nativeBnb4Product(x: tf.Tensor2D, weight: Packed4bitWeight): tf.Tensor2D | null {
  const engine = activeNativeEngine();
  const wasm = activeWasmBackend();
  if (!engine || !wasm || x.dtype !== "float32" || x.rank !== 2 || x.shape[1] !== weight.K) return null;
  const { backend, memory } = wasm;
  const m = x.shape[0];
  const out = backend.makeOutput([m, weight.N], "float32");
  const view = (t: tf.TensorInfo, size: number) => new Float32Array(memory.buffer, backend.getMemoryOffset(t.dataId), size);
  engine.bnb4Product({ data: view(x, x.size), shape: x.shape }, weight.codes, weight.absmax, weight, { data: view(out, m * weight.N), shape: [m, weight.N] });
  return adoptTensor<tf.Tensor2D>(out, "nativeBnb4Product");
}
