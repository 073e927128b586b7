// Dequantization straight into a TF.js wasm-backend tensor: the output is allocated on the backend's
// heap (as its own kernels allocate outputs) and the SIMD kernel writes it in place, so a forward pass
// neither allocates a host array nor copies one into the heap. Other backends return null.
import * as tf from "@tensorflow/tfjs-core";
import { dequantizeBlockwise4bit } from "./blockwise_4bit.js";
import { DEQUANT_KERNEL, dequantStagingBytes, runDequantKernel } from "./dequant_simd.js";
import { activeWasmBackend, writeHeapTensor } from "../ops/wasm_heap.js";

/**
 * A new float32 tensor of `shape` holding the dequantized values, written by the SIMD kernel in
 * place on the wasm backend's heap; null when the active backend is not wasm (or its memory is not
 * reachable, or WebAssembly SIMD is unavailable), for the caller to fall back to a host array.
 */
export function dequantizeToWasmTensor(packed: Uint8Array, absmax: Float32Array, code: Float32Array, blocksize: number, shape: number[]): tf.Tensor | null {
  const found = DEQUANT_KERNEL.available() ? activeWasmBackend() : null;
  if (!found) return null;
  const { backend, memory } = found;
  const n = shape.reduce((a, b) => a * b, 1);
  const fullBlocks = Math.floor(n / blocksize);
  return writeHeapTensor(backend, shape, dequantStagingBytes(blocksize), (outPtr, stagingPtr) => {
    runDequantKernel(memory, stagingPtr, { packed, absmax, code, blocksize, fullBlocks }, (first) => outPtr + 4 * first);
    const done = fullBlocks * blocksize;
    if (done < n) {
      const tail = new Float32Array(memory.buffer, outPtr + 4 * done, n - done);
      dequantizeBlockwise4bit(packed.subarray(done / 2), absmax.subarray(fullBlocks), code, blocksize, n - done, tail);
    }
  });
}
