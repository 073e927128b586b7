// The WebAssembly backend's heap is one 32-bit memory: it grows on demand and stops just short of
// 4 GiB. When it cannot grow, the allocator returns 0 and TF.js writes the new tensor over the start
// of the heap, which later surfaces as "memory access out of bounds" or wrong numbers. The guard
// below refuses such an allocation instead, before anything is written, with the bytes asked for,
// what the heap holds and the limit, so the library and a notebook kernel stay usable.
import * as tf from "@tensorflow/tfjs-core";
import { MemoryLimitError, expected } from "../errors.js";
import { formatBytes } from "../format.js";

/** The most the wasm backend's heap can hold: 4 GiB (65,536 pages of 64 KiB; Emscripten keeps the last page back). */
export const WASM_HEAP_LIMIT_BYTES = 4 * 2 ** 30;

/** The Emscripten module of @tensorflow/tfjs-backend-wasm, as far as the guard uses it. */
interface WasmModule {
  _malloc(bytes: number): number;
  asm?: { malloc?: (bytes: number) => number };
  HEAPU8: Uint8Array;
  [GUARDED]?: true;
}

const GUARDED = Symbol("qlora-lab heap guard");

/** The refusal of an allocation of `bytes` that the wasm heap cannot hold. */
export function heapLimitError(bytes: number, heapBytes: number): MemoryLimitError {
  const held = tf.memory().numBytes;
  return new MemoryLimitError(
    "WebAssembly heap",
    expected(
      `an allocation that fits the wasm backend's ${formatBytes(WASM_HEAP_LIMIT_BYTES)} heap`,
      `a request for ${formatBytes(bytes)} while tensors hold ${formatBytes(held)} of the ${formatBytes(heapBytes)} it has grown to`,
      "Nothing was allocated. Dispose tensors no longer needed, or use a smaller batch, shorter sequences, a 4-bit base or paged optimizer state; the tensorflow backend (tfjs-node) has no such limit.",
    ),
  );
}

/** Installs the guard on the active wasm backend (once; nothing happens on other backends). Returns true when the wasm backend is guarded. */
export function guardWasmHeap(): boolean {
  if (tf.getBackend() !== "wasm") return false;
  const wasm = (tf.backend() as unknown as { wasm?: WasmModule }).wasm;
  if (!wasm || typeof wasm._malloc !== "function") return false;
  if (wasm[GUARDED]) return true;
  // The module's _malloc is a stub that replaces itself with asm.malloc on first use: keep the real one.
  const malloc = wasm.asm?.malloc ?? wasm._malloc.bind(wasm);
  wasm._malloc = (bytes: number): number => {
    // Above the limit the size would not even reach the allocator intact (it takes a 32-bit size).
    if (bytes >= WASM_HEAP_LIMIT_BYTES) throw heapLimitError(bytes, wasm.HEAPU8.length);
    const offset = malloc(bytes);
    if (offset === 0 && bytes > 0) throw heapLimitError(bytes, wasm.HEAPU8.length);
    return offset;
  };
  wasm[GUARDED] = true;
  return true;
}
