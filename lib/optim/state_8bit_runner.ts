// Runs the 8-bit state kernels (state_8bit_simd.ts): in place on the TF.js wasm backend's heap (codes
// read from and written to tensors there, no host copies), or over host arrays through a small
// private WebAssembly memory on other backends. Blocks the kernels do not take (a tail shorter than
// 256, a block holding NaN or Infinity) go through lib/quant's scalar functions, which define the rules.
import * as tf from "@tensorflow/tfjs-core";
import { dequantizeBlockwise8bit, quantizeBlockwise8bit } from "../quant/dynamic_map.js";
import { align16, wasmApi, type WasmMemory } from "../ops/wasm_asm.js";
import { activeWasmBackend } from "../ops/wasm_heap.js";
import { CELL_TABLE_BYTES, KERNEL_BLOCK, cellTable, instantiateState8bitKernels, state8bitKernelsAvailable, type State8bitKernelInstance } from "./state_8bit_simd.js";
import { adoptTensor } from "../ops/adopt_tensor.js";

/** A map with its cell table (null when the kernel cannot use the map). */
export interface KernelMap {
  map: Float32Array;
  table: Uint8Array | null;
}

/** The map and, where the kernels run, its cell table. */
export function kernelMap(map: Float32Array): KernelMap {
  return { map, table: state8bitKernelsAvailable() ? cellTable(map) : null };
}

/** Values per kernel call through the private memory (1 MiB of float32: few calls, stays in cache). */
const CHUNK_VALUES = 1 << 18;

/** Runs the kernels; one per codec (it owns a private memory, grown on first use). */
export class State8bitRunner {
  private readonly instances = new WeakMap<WasmMemory, State8bitKernelInstance>();
  private privateMemory: WasmMemory | undefined;

  private kernelsOver(memory: WasmMemory): State8bitKernelInstance {
    let instance = this.instances.get(memory);
    if (!instance) {
      instance = instantiateState8bitKernels(memory);
      this.instances.set(memory, instance);
    }
    return instance;
  }

  /**
   * Codes (int32 words holding four codes each, zero padded) and absmax of a float32 tensor of `len`
   * values, as new kept tensors, computed in place on the wasm backend's heap; null on other backends.
   */
  quantizeOnWasm(t: tf.Tensor, len: number, m: KernelMap): [tf.Tensor, tf.Tensor] | null {
    const found = m.table && state8bitKernelsAvailable() ? activeWasmBackend() : null;
    if (!found) return null;
    const { backend, memory } = found;
    const blocks = Math.ceil(len / KERNEL_BLOCK);
    const words = Math.ceil(len / 4);
    const codes = backend.makeOutput([words], "int32");
    const absmax = backend.makeOutput([blocks], "float32");
    const staging = backend.makeOutput([(CELL_TABLE_BYTES + 16) / 4], "int32");
    try {
      const tablePtr = align16(backend.getMemoryOffset(staging.dataId));
      const valuesPtr = backend.getMemoryOffset(t.dataId);
      const codesPtr = backend.getMemoryOffset(codes.dataId);
      const absmaxPtr = backend.getMemoryOffset(absmax.dataId);
      new Uint8Array(memory.buffer).set(m.table!, tablePtr); // views taken after the last allocation
      const full = Math.floor(len / KERNEL_BLOCK);
      if (full > 0) this.kernelsOver(memory).quant8(valuesPtr, codesPtr, absmaxPtr, tablePtr, full);
      const heap = memory.buffer;
      finishQuantize(new Float32Array(heap, valuesPtr, len), m.map, new Uint8Array(heap, codesPtr, 4 * words), new Float32Array(heap, absmaxPtr, blocks), full);
    } catch (error) {
      backend.disposeData(codes.dataId, true);
      backend.disposeData(absmax.dataId, true);
      throw error;
    } finally {
      backend.disposeData(staging.dataId, true);
    }
    return [tf.keep(adoptTensor(codes, "quantize8bit")), tf.keep(adoptTensor(absmax, "quantize8bit"))];
  }

  /** A new float32 [len] tensor dequantized in place on the wasm backend's heap from payload tensors; null on other backends. */
  dequantizeOnWasm(codes: tf.Tensor, absmax: tf.Tensor, len: number, m: KernelMap): tf.Tensor1D | null {
    const found = state8bitKernelsAvailable() ? activeWasmBackend() : null;
    if (!found) return null;
    const { backend, memory } = found;
    const out = backend.makeOutput([len], "float32");
    const staging = backend.makeOutput([256 + 4], "float32");
    try {
      const mapPtr = align16(backend.getMemoryOffset(staging.dataId));
      const codesPtr = backend.getMemoryOffset(codes.dataId);
      const absmaxPtr = backend.getMemoryOffset(absmax.dataId);
      const outPtr = backend.getMemoryOffset(out.dataId);
      new Float32Array(memory.buffer, mapPtr, 256).set(m.map);
      const full = Math.floor(len / KERNEL_BLOCK);
      if (full > 0) this.kernelsOver(memory).dequant8(codesPtr, absmaxPtr, outPtr, mapPtr, full);
      const done = full * KERNEL_BLOCK;
      if (done < len) {
        const heap = memory.buffer;
        const blocks = Math.ceil(len / KERNEL_BLOCK);
        dequantizeBlockwise8bit(new Uint8Array(heap, codesPtr + done, len - done), new Float32Array(heap, absmaxPtr + 4 * full, blocks - full), m.map, KERNEL_BLOCK, new Float32Array(heap, outPtr + 4 * done, len - done));
      }
    } catch (error) {
      backend.disposeData(out.dataId, true);
      throw error;
    } finally {
      backend.disposeData(staging.dataId, true);
    }
    return adoptTensor<tf.Tensor1D>(out, "dequantize8bit");
  }

  /** Quantizes host values into `codes` [n] and `absmax` [ceil(n / 256)], as quantizeBlockwise8bit with blocksize 256. */
  quantize(values: Float32Array, m: KernelMap, codes: Uint8Array, absmax: Float32Array): void {
    const n = values.length;
    const full = Math.floor(n / KERNEL_BLOCK);
    if (!m.table || full === 0 || !state8bitKernelsAvailable()) {
      quantizeBlockwise8bit(values, m.map, KERNEL_BLOCK, { codes, absmax });
      return;
    }
    const memory = this.memory();
    const quant8 = this.kernelsOver(memory).quant8;
    const [tableAt, valuesAt, codesAt, absmaxAt] = privateLayout();
    new Uint8Array(memory.buffer).set(m.table, tableAt);
    const heap = chunkViews(memory);
    for (const { b0, blocks, start, count } of chunks(full)) {
      heap.values.set(values.subarray(start, start + count));
      quant8(valuesAt, codesAt, absmaxAt, tableAt, blocks);
      codes.set(heap.codes.subarray(0, count), start);
      absmax.set(heap.absmax.subarray(0, blocks), b0);
    }
    finishQuantize(values, m.map, codes, absmax, full);
  }

  /** Dequantizes host codes [n] and absmax into `out` [n], as dequantizeBlockwise8bit with blocksize 256. */
  dequantize(codes: Uint8Array, absmax: Float32Array, m: KernelMap, out: Float32Array): void {
    const n = out.length;
    const full = Math.floor(n / KERNEL_BLOCK);
    if (full === 0 || !state8bitKernelsAvailable()) {
      dequantizeBlockwise8bit(codes.subarray(0, n), absmax, m.map, KERNEL_BLOCK, out);
      return;
    }
    const memory = this.memory();
    const dequant8 = this.kernelsOver(memory).dequant8;
    const [mapAt, valuesAt, codesAt, absmaxAt] = privateLayout();
    new Float32Array(memory.buffer, mapAt, 256).set(m.map);
    const heap = chunkViews(memory);
    for (const { b0, blocks, start, count } of chunks(full)) {
      heap.codes.set(codes.subarray(start, start + count));
      heap.absmax.set(absmax.subarray(b0, b0 + blocks));
      dequant8(codesAt, absmaxAt, valuesAt, mapAt, blocks);
      out.set(heap.values.subarray(0, count), start);
    }
    const done = full * KERNEL_BLOCK;
    if (done < n) dequantizeBlockwise8bit(codes.subarray(done, n), absmax.subarray(full), m.map, KERNEL_BLOCK, out.subarray(done));
  }

  private memory(): WasmMemory {
    if (!this.privateMemory) {
      const bytes = privateLayout()[4]!;
      this.privateMemory = new (wasmApi()!).Memory({ initial: Math.ceil(bytes / 65536) });
    }
    return this.privateMemory;
  }
}

/** Byte offsets in the private memory: [table or map, values, codes, absmax, total]. */
function privateLayout(): number[] {
  const valuesAt = CELL_TABLE_BYTES;
  const codesAt = valuesAt + 4 * CHUNK_VALUES;
  const absmaxAt = codesAt + CHUNK_VALUES;
  return [0, valuesAt, codesAt, absmaxAt, absmaxAt + (4 * CHUNK_VALUES) / KERNEL_BLOCK];
}

/** The private memory's values, codes and absmax buffers (privateLayout), one chunk each. */
function chunkViews(memory: WasmMemory): { values: Float32Array; codes: Uint8Array; absmax: Float32Array } {
  const [, valuesAt, codesAt, absmaxAt] = privateLayout();
  return {
    values: new Float32Array(memory.buffer, valuesAt, CHUNK_VALUES),
    codes: new Uint8Array(memory.buffer, codesAt, CHUNK_VALUES),
    absmax: new Float32Array(memory.buffer, absmaxAt, CHUNK_VALUES / KERNEL_BLOCK),
  };
}

/** The first `full` blocks in chunks of at most CHUNK_VALUES values: first block, blocks, first value, values. */
function* chunks(full: number): Generator<{ b0: number; blocks: number; start: number; count: number }> {
  for (let b0 = 0; b0 < full; b0 += CHUNK_VALUES / KERNEL_BLOCK) {
    const blocks = Math.min(CHUNK_VALUES / KERNEL_BLOCK, full - b0);
    yield { b0, blocks, start: b0 * KERNEL_BLOCK, count: blocks * KERNEL_BLOCK };
  }
}

/**
 * After the kernel ran over the first `full` blocks: redoes blocks whose absmax is not finite (they
 * hold NaN or Infinity) and the tail block with the scalar quantizer, and zeroes the padding after n codes.
 */
function finishQuantize(values: Float32Array, map: Float32Array, codes: Uint8Array, absmax: Float32Array, full: number): void {
  const n = values.length;
  const scalar = (b: number) => {
    const start = b * KERNEL_BLOCK;
    const end = Math.min(start + KERNEL_BLOCK, n);
    quantizeBlockwise8bit(values.subarray(start, end), map, KERNEL_BLOCK, { codes: codes.subarray(start, end), absmax: absmax.subarray(b, b + 1) });
  };
  for (let b = 0; b < full; b++) if (!Number.isFinite(absmax[b]!)) scalar(b);
  if (full * KERNEL_BLOCK < n) scalar(full);
  codes.fill(0, n);
}
