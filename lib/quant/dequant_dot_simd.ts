// A WebAssembly SIMD kernel for the product of one row x [K] with a 4-bit weight W [N, K] (y = x W^T,
// what each linear does per generated token): each 16-byte run of codes is decoded into 32 floats in
// registers (the dequantize kernel's instructions) and multiplied into a running sum with x, so the
// float32 weight (8x the 4-bit bytes) is never written to memory and read back.
import { FunctionBuilder, I32, OP, SIMD_OP, V128, align16, uleb } from "../ops/wasm_asm.js";
import { WasmKernel } from "../ops/wasm_kernel.js";
import { activeWasmBackend, writeHeapTensor } from "../ops/wasm_heap.js";
import { codeDecoder } from "./dequant_simd.js";
import * as tf from "@tensorflow/tfjs-core";

const S = SIMD_OP;

/**
 * `dot(out, packed, absmax, code, rows, bytesPerBlock, x, blocksPerRow)`: for each of `rows` weight rows
 * (blocksPerRow blocks each, blocks of 32 codes or a multiple), out[row] = sum_k x[k] * deq(w[row, k]).
 */
function kernelBytes(exportName: string): Uint8Array {
  const b = new FunctionBuilder(8);
  const [OUT, PACKED, ABSMAX, CODE, ROWS, BPB, X, BPR] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [END_PTR, XP, BLOCKS] = b.locals(I32, 3);
  const SUM = b.local(V128);
  const decoder = codeDecoder(b);
  decoder.loadCodeBook(CODE);
  b.loop(() => {
    b.splat(0, true);
    b.set(SUM);
    b.get(X);
    b.set(XP);
    b.get(BPR);
    b.set(BLOCKS);
    b.loop(() => {
      decoder.blockTable(ABSMAX);
      b.get(PACKED);
      b.get(BPB);
      b.op(OP.I32_ADD);
      b.set(END_PTR);
      b.loop(() => {
        decoder.decode16(PACKED, (offset) => {
          // sum += w[4] * x[4] (the four weights are on the stack)
          b.get(XP);
          b.simd(S.V128_LOAD, 0, ...uleb(offset));
          b.simd(S.F32X4_MUL);
          b.get(SUM);
          b.simd(S.F32X4_ADD);
          b.set(SUM);
        });
        b.add(XP, 128);
        b.stepUntil(PACKED, 16, END_PTR);
      });
      b.add(ABSMAX, 4);
      b.countDown(BLOCKS);
    });
    b.storeLaneSum(OUT, SUM); // out[row] = (sum0 + sum1) + (sum2 + sum3)
    b.add(OUT, 4);
    b.countDown(ROWS);
  });
  return b.module(exportName);
}

/** The kernel (compiled on first use). */
export const DEQUANT_DOT_KERNEL = new WasmKernel("dot", kernelBytes);

/** Packed bytes staged per kernel call: 128 KiB (with the scales, it stays in cache). */
const CHUNK_BYTES = 1 << 17;

/** The 4-bit weight as the kernel reads it: [N, K] row-major codes, one float32 absmax per block. */
export interface DotWeight {
  packed: Uint8Array;
  absmax: Float32Array;
  code: Float32Array;
  blocksize: number;
  /** [N, K] */
  shape: readonly [number, number];
}

/** Whether the kernel can multiply by `w` here: wasm backend, SIMD, blocks of whole 16-byte runs within rows. */
export function canDotProduct(w: DotWeight): boolean {
  return w.blocksize % 32 === 0 && w.shape[1] % w.blocksize === 0 && DEQUANT_DOT_KERNEL.available() && activeWasmBackend() !== null;
}

/**
 * x [m, K] @ deq(W)^T -> [m, N] on the wasm backend with the dot kernel, one x row at a time (call where
 * {@link canDotProduct}). The packed rows are staged into the heap a chunk at a time.
 */
export function dotProduct4bit(x: tf.Tensor2D, w: DotWeight): tf.Tensor2D {
  const { backend, memory } = activeWasmBackend()!;
  const [N, K] = w.shape;
  const [m] = x.shape;
  const bytesPerRow = K / 2;
  const blocksPerRow = K / w.blocksize;
  const rowsPerChunk = Math.max(1, Math.min(N, Math.floor(CHUNK_BYTES / bytesPerRow)));
  const packedBytes = align16(rowsPerChunk * bytesPerRow);
  const absmaxBytes = align16(rowsPerChunk * blocksPerRow * 4);
  const dot = DEQUANT_DOT_KERNEL.instantiate(memory);
  return writeHeapTensor(backend, [m, N], packedBytes + absmaxBytes + 64, (outAt, packedAt) => {
    const absmaxAt = packedAt + packedBytes;
    const codeAt = absmaxAt + absmaxBytes; // the 16-entry code book
    new Float32Array(memory.buffer, codeAt, 16).set(w.code);
    const xAt = backend.getMemoryOffset(x.dataId);
    for (let row0 = 0; row0 < N; row0 += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, N - row0);
      new Uint8Array(memory.buffer).set(w.packed.subarray(row0 * bytesPerRow, (row0 + rows) * bytesPerRow), packedAt);
      new Float32Array(memory.buffer, absmaxAt, rows * blocksPerRow).set(w.absmax.subarray(row0 * blocksPerRow, (row0 + rows) * blocksPerRow));
      for (let i = 0; i < m; i++) dot(outAt + 4 * (i * N + row0), packedAt, absmaxAt, codeAt, rows, w.blocksize / 2, xAt + 4 * i * K, blocksPerRow);
    }
  }) as tf.Tensor2D;
}
