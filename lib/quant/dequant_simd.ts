// A WebAssembly SIMD kernel for 4-bit dequantization, assembled here from its instructions (no build
// step). Per block it scales the 16 code values (f32x4.mul, the same float32 rounding as the scalar
// path), splits them into four byte planes, and turns 32 nibbles into 32 floats with i8x16.swizzle.
import { dequantizeBlockwise4bit } from "./blockwise_4bit.js";
import { FunctionBuilder, I32, OP, SIMD_OP, V128, align16, uleb, wasmApi, type WasmMemory } from "../ops/wasm_asm.js";
import { WasmKernel } from "../ops/wasm_kernel.js";

const S = SIMD_OP;

/**
 * The instructions that turn 4-bit codes into floats, shared by the dequantize kernel (which stores them)
 * and the 4-bit dot-product kernel (which multiplies them into a sum). `loadCodeBook` reads the 16 code
 * values from the address in local `code`; `blockTable` scales them by the float32 at the address in
 * local `absmax` and splits them into byte planes; `decode16` turns the 16 bytes at the address in
 * local `packed` (32 codes) into eight vectors of four floats, handing each to `consume` with its byte
 * offset (0, 16, ..., 112) in the block's output.
 */
export function codeDecoder(b: FunctionBuilder) {
  const [C0, C1, C2, C3, T0, T1, T2, T3, A01, B01, A23, B23, P0, P1, P2, P3, BYTES, HI, LO, IDX, Q0, Q1, Q2, Q3, L01, H01, L23, H23] = b.locals(V128, 28);
  const shuffle = (x: number, y: number, lanes: number[], into: number) => {
    b.get(x);
    b.get(y);
    b.simd(S.I8X16_SHUFFLE, ...lanes);
    b.set(into);
  };
  const range = (from: number, count: number, step = 1) => Array.from({ length: count }, (_, i) => from + i * step);
  const interleave = (x: number[], y: number[]) => x.flatMap((v, i) => [v, y[i]!]);
  return {
    /** Code book: four vectors of four floats. */
    loadCodeBook(code: number): void {
      for (const [k, local] of [C0, C1, C2, C3].entries()) {
        b.get(code);
        b.simd(S.V128_LOAD, 0, ...uleb(16 * k));
        b.set(local);
      }
    },
    blockTable(absmax: number): void {
      // Scaled table t = code * absmax[b] (f32x4.mul rounds each product to float32 once).
      for (const [k, c] of [C0, C1, C2, C3].entries()) {
        b.get(c);
        b.get(absmax);
        b.op(OP.F32_LOAD, 2, 0);
        b.simd(S.F32X4_SPLAT);
        b.simd(S.F32X4_MUL);
        b.set([T0, T1, T2, T3][k]!);
      }
      // Byte planes: plane j holds byte j of each of the 16 floats.
      const evenPlanes = [...range(0, 8, 4), ...range(1, 8, 4)]; // bytes 0 and 1 of floats 0..7
      const oddPlanes = [...range(2, 8, 4), ...range(3, 8, 4)]; // bytes 2 and 3
      shuffle(T0, T1, evenPlanes, A01);
      shuffle(T0, T1, oddPlanes, B01);
      shuffle(T2, T3, evenPlanes, A23);
      shuffle(T2, T3, oddPlanes, B23);
      const low = [...range(0, 8), ...range(16, 8)];
      const high = [...range(8, 8), ...range(24, 8)];
      shuffle(A01, A23, low, P0);
      shuffle(A01, A23, high, P1);
      shuffle(B01, B23, low, P2);
      shuffle(B01, B23, high, P3);
    },
    decode16(packed: number, consume: (byteOffset: number) => void): void {
      b.get(packed);
      b.simd(S.V128_LOAD, 0, 0);
      b.set(BYTES);
      b.get(BYTES);
      b.i32(4);
      b.simd(S.I8X16_SHR_U);
      b.set(HI);
      b.get(BYTES);
      b.v128(new Array(16).fill(0x0f));
      b.simd(S.V128_AND);
      b.set(LO);
      // Element 2i is the high nibble of byte i, element 2i+1 the low one.
      for (const half of [0, 1]) {
        shuffle(HI, LO, interleave(range(8 * half, 8), range(16 + 8 * half, 8)), IDX);
        for (const [j, plane] of [P0, P1, P2, P3].entries()) {
          b.get(plane);
          b.get(IDX);
          b.simd(S.I8X16_SWIZZLE);
          b.set([Q0, Q1, Q2, Q3][j]!);
        }
        shuffle(Q0, Q1, interleave(range(0, 8), range(16, 8)), L01);
        shuffle(Q0, Q1, interleave(range(8, 8), range(24, 8)), H01);
        shuffle(Q2, Q3, interleave(range(0, 8), range(16, 8)), L23);
        shuffle(Q2, Q3, interleave(range(8, 8), range(24, 8)), H23);
        const quad = (from: number) => range(from, 4, 2).flatMap((x) => [x, x + 1, x + 16, x + 17]);
        for (const [k, [x, y, lanes]] of ([[L01, L23, quad(0)], [L01, L23, quad(8)], [H01, H23, quad(0)], [H01, H23, quad(8)]] as const).entries()) {
          b.get(x);
          b.get(y);
          b.simd(S.I8X16_SHUFFLE, ...lanes); // four floats on the stack
          consume(64 * half + 16 * k);
        }
      }
    },
  };
}

/** The kernel's bytes: `dequant(out, packed, absmax, code, blocks, bytesPerBlock)` over an imported memory. */
function kernelBytes(exportName: string): Uint8Array {
  const b = new FunctionBuilder(6);
  const [OUT, PACKED, ABSMAX, CODE, BLOCKS, BPB] = [0, 1, 2, 3, 4, 5];
  const END_PTR = b.local(I32); // end of the block's bytes
  const FLOATS = b.local(V128);
  const decoder = codeDecoder(b);
  decoder.loadCodeBook(CODE);
  b.loop(() => {
    decoder.blockTable(ABSMAX);
    // end = packed + bytesPerBlock
    b.get(PACKED);
    b.get(BPB);
    b.op(OP.I32_ADD);
    b.set(END_PTR);
    b.loop(() => {
      decoder.decode16(PACKED, (offset) => {
        b.set(FLOATS);
        b.get(OUT);
        b.get(FLOATS);
        b.simd(S.V128_STORE, 0, ...uleb(offset));
      });
      // out += 128; packed += 16; loop while packed != end
      b.add(OUT, 128);
      b.stepUntil(PACKED, 16, END_PTR);
    });
    b.add(ABSMAX, 4);
    b.countDown(BLOCKS);
  });
  return b.module(exportName);
}

/** The kernel (about 1 KB of code, compiled on first use). */
export const DEQUANT_KERNEL = new WasmKernel("dequant", kernelBytes);

/** Values per kernel call: 256 KiB of output, small enough to stay in cache. */
const CHUNK_VALUES = 1 << 16;
/**
 * Values per chunk when the output is copied out of a private memory: 1 MiB. Node 20's V8 pays a
 * large fixed cost per TypedArray.set from WebAssembly memory (256 KiB chunks ran at 0.2x a copy,
 * 1 MiB at 0.55x, 16 MiB at 0.3x once the chunk leaves the cache).
 */
const COPY_CHUNK_VALUES = 1 << 18;

/**
 * Runs the kernel over the full blocks, a chunk at a time: each chunk's packed bytes, scales and the
 * code book are staged at `stagingAt` in `memory`, and its output goes to `outAt(firstValue)`;
 * `flush(firstValue, count, ptr)` runs after each chunk (to copy it out of `memory`, if needed).
 * Staging needs {@link dequantStagingBytes} bytes.
 */
export function runDequantKernel(
  memory: WasmMemory,
  stagingAt: number,
  args: { packed: Uint8Array; absmax: Float32Array; code: Float32Array; blocksize: number; fullBlocks: number; chunkValues?: number },
  outAt: (firstValue: number) => number,
  flush?: (firstValue: number, count: number, ptr: number) => void,
): void {
  const { packed, absmax, code, blocksize, fullBlocks } = args;
  if (fullBlocks === 0) return;
  const dequant = DEQUANT_KERNEL.instantiate(memory);
  const chunkBlocks = chunkBlocksOf(blocksize, args.chunkValues);
  const packedAt = stagingAt;
  const absmaxAt = packedAt + align16((chunkBlocks * blocksize) / 2);
  const codeAt = absmaxAt + align16(chunkBlocks * 4);
  const heap = new Uint8Array(memory.buffer);
  new Float32Array(memory.buffer, codeAt, 16).set(code);
  for (let b0 = 0; b0 < fullBlocks; b0 += chunkBlocks) {
    const blocks = Math.min(chunkBlocks, fullBlocks - b0);
    const first = b0 * blocksize;
    const count = blocks * blocksize;
    heap.set(packed.subarray(first / 2, (first + count) / 2), packedAt);
    new Float32Array(memory.buffer, absmaxAt, blocks).set(absmax.subarray(b0, b0 + blocks));
    const ptr = outAt(first);
    dequant(ptr, packedAt, absmaxAt, codeAt, blocks, blocksize / 2);
    flush?.(first, count, ptr);
  }
}

function chunkBlocksOf(blocksize: number, chunkValues = CHUNK_VALUES): number {
  return Math.max(1, Math.floor(chunkValues / blocksize));
}

/** Bytes of staging {@link runDequantKernel} needs for a block size. */
export function dequantStagingBytes(blocksize: number, chunkValues?: number): number {
  const chunkBlocks = chunkBlocksOf(blocksize, chunkValues);
  return align16((chunkBlocks * blocksize) / 2) + align16(chunkBlocks * 4) + 64;
}

/**
 * Dequantizes into `out` (a plain Float32Array) with the SIMD kernel: chunks of 256 Ki values are
 * written to a small private WebAssembly memory (they stay in cache) and copied out, so no buffer of
 * the tensor's size is allocated. Full blocks run in the kernel, a tail block in the scalar path.
 */
export function dequantizeBlockwise4bitSimd(packed: Uint8Array, absmax: Float32Array, code: Float32Array, blocksize: number, n: number, out: Float32Array): Float32Array {
  const fullBlocks = Math.floor(n / blocksize);
  const chunkValues = Math.min(COPY_CHUNK_VALUES, Math.max(fullBlocks, 1) * blocksize);
  const chunkBytes = align16(chunkBlocksOf(blocksize, chunkValues) * blocksize * 4);
  const memory = new (wasmApi()!).Memory({ initial: Math.ceil((chunkBytes + dequantStagingBytes(blocksize, chunkValues)) / 65536) });
  const heapF32 = new Float32Array(memory.buffer);
  runDequantKernel(memory, chunkBytes, { packed, absmax, code, blocksize, fullBlocks, chunkValues }, () => 0, (first, count) => out.set(heapF32.subarray(0, count), first));
  const done = fullBlocks * blocksize;
  if (done < n) dequantizeBlockwise4bit(packed.subarray(done / 2), absmax.subarray(fullBlocks), code, blocksize, n - done, out.subarray(done));
  return out;
}
