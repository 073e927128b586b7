// The TF.js wasm backend's heap, when it is the active backend and its memory is reachable (not a
// threaded build's shared memory): views of tensors' bytes and tensors allocated there, so the 4-bit
// dequantize, the optimizer's state moves and its 8-bit kernels work in place instead of through host copies.
import * as tf from "@tensorflow/tfjs-core";
import { align16, type WasmMemory } from "./wasm_asm.js";
import { adoptTensor } from "./adopt_tensor.js";

/** A float32 or int32 tensor's elements on the host. */
type HostArray = Float32Array | Int32Array;

/** The parts of @tensorflow/tfjs-backend-wasm's BackendWasm used here (public methods, and the Emscripten module's memory). */
export interface WasmBackendSlice {
  makeOutput(shape: number[], dtype: "float32" | "int32"): tf.TensorInfo;
  getMemoryOffset(dataId: tf.DataId): number;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  typedArrayFromHeap(info: { shape: number[]; dtype: string; dataId: object }): HostArray;
  wasm?: { asm?: { memory?: unknown } };
}

/** The wasm backend and its (non-shared) memory when it is the active backend, else null. */
export function activeWasmBackend(): { backend: WasmBackendSlice; memory: WasmMemory } | null {
  if (tf.getBackend() !== "wasm") return null;
  const backend = tf.backend() as unknown as WasmBackendSlice;
  const memory = backend.wasm?.asm?.memory as WasmMemory | undefined;
  const Memory = (globalThis as unknown as { WebAssembly?: { Memory: new (...a: never[]) => unknown } }).WebAssembly?.Memory;
  if (!memory || !Memory || !(memory instanceof Memory) || !(memory.buffer instanceof ArrayBuffer)) return null; // threaded builds share their memory
  if (typeof backend.makeOutput !== "function" || typeof backend.getMemoryOffset !== "function") return null;
  return { backend, memory };
}

/** The wasm backend's view of a float32 or int32 tensor's bytes in its heap (no copy; valid until the next allocation), else undefined. */
export function heapView(t: tf.Tensor): HostArray | undefined {
  if (tf.getBackend() !== "wasm" || (t.dtype !== "float32" && t.dtype !== "int32")) return undefined;
  const backend = tf.backend() as unknown as Partial<WasmBackendSlice>;
  if (typeof backend.typedArrayFromHeap !== "function") return undefined;
  return backend.typedArrayFromHeap({ shape: t.shape, dtype: t.dtype, dataId: t.dataId });
}

/** Elements [start, end) of a float32 tensor as a new tensor copied within the wasm heap (one memmove), else null. */
export function sliceInHeap(t: tf.Tensor, start: number, end: number): tf.Tensor1D | null {
  const found = t.dtype === "float32" ? activeWasmBackend() : null;
  if (!found) return null;
  const { backend, memory } = found;
  const out = backend.makeOutput([end - start], "float32");
  const from = backend.getMemoryOffset(t.dataId);
  new Uint8Array(memory.buffer).copyWithin(backend.getMemoryOffset(out.dataId), from + 4 * start, from + 4 * end); // view taken after the allocation
  return adoptTensor<tf.Tensor1D>(out, "heapSlice");
}

/**
 * Rows `ids` of a float32 [V, C] table as a new [N, C] tensor copied within the wasm heap (one memmove a
 * row), else null. The ids must be rows of the table: the copy does not check them.
 */
export function gatherRowsInHeap(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D | null {
  const found = table.dtype === "float32" && ids.dtype === "int32" ? activeWasmBackend() : null;
  if (!found) return null;
  const { backend, memory } = found;
  const rows = ids.shape[0];
  const width = table.shape[1];
  const out = backend.makeOutput([rows, width], "float32");
  const heap = new Float32Array(memory.buffer); // views taken after the allocation
  const index = new Int32Array(memory.buffer, backend.getMemoryOffset(ids.dataId), rows);
  const from = backend.getMemoryOffset(table.dataId) / 4;
  const to = backend.getMemoryOffset(out.dataId) / 4;
  for (let i = 0; i < rows; i++) heap.copyWithin(to + i * width, from + index[i]! * width, from + (index[i]! + 1) * width);
  return adoptTensor<tf.Tensor2D>(out, "heapGather");
}

/**
 * A new float32 tensor of `shape` on the wasm heap, written by `fill(outAt, stagingAt)`: `stagingBytes`
 * of 16-byte-aligned scratch are allocated beside it (both before `fill` runs, so views of the heap it
 * takes stay valid) and freed after; the output is freed too if `fill` throws.
 */
export function writeHeapTensor(backend: WasmBackendSlice, shape: number[], stagingBytes: number, fill: (outAt: number, stagingAt: number) => void): tf.Tensor {
  const out = backend.makeOutput(shape, "float32"); // not initialized
  const staging = backend.makeOutput([Math.ceil(stagingBytes / 4) + 4], "int32"); // 16 spare bytes for the alignment
  try {
    fill(backend.getMemoryOffset(out.dataId), align16(backend.getMemoryOffset(staging.dataId)));
  } catch (error) {
    backend.disposeData(out.dataId, true);
    throw error;
  } finally {
    backend.disposeData(staging.dataId, true);
  }
  return adoptTensor(out, "writeHeapTensor");
}
