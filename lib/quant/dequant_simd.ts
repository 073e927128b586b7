// A WebAssembly SIMD kernel for 4-bit dequantization, assembled here from its instructions (no build
// step). Per block it scales the 16 code values (f32x4.mul, the same float32 rounding as the scalar
// path), splits them into four byte planes, and turns 32 nibbles into 32 floats with i8x16.swizzle.
import { dequantizeBlockwise4bit } from "./blockwise_4bit.js";

// Instruction encodings (WebAssembly core + fixed-width SIMD proposals).
const LOCAL_GET = 0x20, LOCAL_SET = 0x21, I32_CONST = 0x41, I32_ADD = 0x6a, I32_SUB = 0x6b, F32_LOAD = 0x2a;
const LOOP = 0x03, VOID = 0x40, BR_IF = 0x0d, END = 0x0b, SIMD = 0xfd;
const V128_LOAD = 0x00, V128_STORE = 0x0b, V128_CONST = 0x0c, SHUFFLE = 0x0d, SWIZZLE = 0x0e, F32X4_SPLAT = 0x13, V128_AND = 0x4e, I8X16_SHR_U = 0x6d, F32X4_MUL = 0xe6;

/** The slice of the WebAssembly API this file uses (the project compiles without DOM typings). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => { buffer: ArrayBuffer };
}

/** A compiled WebAssembly module (opaque). */
export type WasmModule = object;

function wasmApi(): WasmApi | undefined {
  return (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
}

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function name(text: string): number[] {
  return [...uleb(text.length), ...[...text].map((c) => c.charCodeAt(0))];
}

/** The kernel's bytes: `dequant(out, packed, absmax, code, blocks, bytesPerBlock)` over an imported memory. */
function kernelBytes(): Uint8Array {
  // Parameters 0..5: out, packed, absmax, code, blocks, bytesPerBlock (i32). Locals from 6 on.
  const [OUT, PACKED, ABSMAX, CODE, BLOCKS, BPB] = [0, 1, 2, 3, 4, 5];
  const I32_LOCALS = 1; // 6: end of the block's bytes
  const END_PTR = 6;
  const V = (k: number) => 7 + k; // v128 locals
  const [C0, C1, C2, C3, T0, T1, T2, T3, A01, B01, A23, B23, P0, P1, P2, P3, BYTES, HI, LO, IDX, Q0, Q1, Q2, Q3, L01, H01, L23, H23] = Array.from({ length: 28 }, (_, k) => V(k));
  const code: number[] = [];
  const get = (l: number) => code.push(LOCAL_GET, ...uleb(l));
  const set = (l: number) => code.push(LOCAL_SET, ...uleb(l));
  const simd = (op: number, ...imm: number[]) => code.push(SIMD, ...uleb(op), ...imm);
  const shuffle = (a: number, b: number, lanes: number[], into: number) => {
    get(a);
    get(b);
    simd(SHUFFLE, ...lanes);
    set(into);
  };
  const range = (from: number, count: number, step = 1) => Array.from({ length: count }, (_, i) => from + i * step);
  const interleave = (a: number[], b: number[]) => a.flatMap((x, i) => [x, b[i]!]);
  // Code book: four vectors of four floats.
  for (const [k, local] of [C0, C1, C2, C3].entries()) {
    get(CODE);
    simd(V128_LOAD, 0, ...uleb(16 * k));
    set(local);
  }
  code.push(LOOP, VOID);
  {
    // Scaled table t = code * absmax[b] (f32x4.mul rounds each product to float32 once).
    for (const [k, c] of [C0, C1, C2, C3].entries()) {
      get(c);
      get(ABSMAX);
      code.push(F32_LOAD, 2, 0);
      simd(F32X4_SPLAT);
      simd(F32X4_MUL);
      set([T0, T1, T2, T3][k]!);
    }
    // Byte planes: plane j holds byte j of each of the 16 floats.
    const evenPlanes = [...range(0, 8, 4).map((x) => x), ...range(1, 8, 4)]; // bytes 0 and 1 of floats 0..7
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
    // end = packed + bytesPerBlock
    get(PACKED);
    get(BPB);
    code.push(I32_ADD);
    set(END_PTR);
    code.push(LOOP, VOID);
    {
      get(PACKED);
      simd(V128_LOAD, 0, 0);
      set(BYTES);
      get(BYTES);
      code.push(I32_CONST, 4);
      simd(I8X16_SHR_U);
      set(HI);
      get(BYTES);
      simd(V128_CONST, ...new Array(16).fill(0x0f));
      simd(V128_AND);
      set(LO);
      // Element 2i is the high nibble of byte i, element 2i+1 the low one.
      for (const half of [0, 1]) {
        shuffle(HI, LO, interleave(range(8 * half, 8), range(16 + 8 * half, 8)), IDX);
        for (const [j, plane] of [P0, P1, P2, P3].entries()) {
          get(plane);
          get(IDX);
          simd(SWIZZLE);
          set([Q0, Q1, Q2, Q3][j]!);
        }
        shuffle(Q0, Q1, interleave(range(0, 8), range(16, 8)), L01);
        shuffle(Q0, Q1, interleave(range(8, 8), range(24, 8)), H01);
        shuffle(Q2, Q3, interleave(range(0, 8), range(16, 8)), L23);
        shuffle(Q2, Q3, interleave(range(8, 8), range(24, 8)), H23);
        const quad = (from: number) => range(from, 4, 2).flatMap((x) => [x, x + 1, x + 16, x + 17]);
        for (const [k, [a, b, lanes]] of ([[L01, L23, quad(0)], [L01, L23, quad(8)], [H01, H23, quad(0)], [H01, H23, quad(8)]] as const).entries()) {
          get(OUT);
          get(a);
          get(b);
          simd(SHUFFLE, ...lanes);
          simd(V128_STORE, 0, ...uleb(64 * half + 16 * k));
        }
      }
      // out += 128; packed += 16; loop while packed != end
      get(OUT);
      code.push(I32_CONST, ...uleb(128), I32_ADD);
      set(OUT);
      get(PACKED);
      code.push(I32_CONST, 16, I32_ADD);
      set(PACKED);
      get(PACKED);
      get(END_PTR);
      code.push(0x47); // i32.ne
      code.push(BR_IF, 0);
    }
    code.push(END);
    get(ABSMAX);
    code.push(I32_CONST, 4, I32_ADD);
    set(ABSMAX);
    get(BLOCKS);
    code.push(I32_CONST, 1, I32_SUB);
    set(BLOCKS);
    get(BLOCKS);
    code.push(BR_IF, 0);
  }
  code.push(END, END);
  const locals = [2, ...uleb(I32_LOCALS), 0x7f, ...uleb(28), 0x7b];
  const body = [...locals, ...code];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 6, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0]),
    ...section(2, [1, ...name("env"), ...name("memory"), 0x02, 0x00, 1]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name("dequant"), 0x00, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ];
  return new Uint8Array(bytes);
}

/** Compiles the kernel, or returns null where WebAssembly SIMD is unavailable. */
export function compileDequantKernel(): WasmModule | null {
  const api = wasmApi();
  if (!api) return null;
  try {
    return new api.Module(kernelBytes());
  } catch {
    return null;
  }
}

/** The compiled kernel (an immutable constant, about 1 KB of code), or null without WebAssembly SIMD. */
export const DEQUANT_KERNEL: WasmModule | null = compileDequantKernel();

/**
 * Dequantizes with the SIMD kernel into a fresh WebAssembly memory and returns a Float32Array view of
 * it (no copy out). Full blocks run in the kernel, a tail block in the scalar path. The memory also
 * holds a copy of the packed codes and scales (n/2 + n/16 bytes) for as long as the view lives.
 */
export function dequantizeBlockwise4bitSimd(kernel: WasmModule, packed: Uint8Array, absmax: Float32Array, code: Float32Array, blocksize: number, n: number): Float32Array {
  const fullBlocks = Math.floor(n / blocksize);
  const outBytes = align16(n * 4);
  const packedAt = outBytes;
  const absmaxAt = packedAt + align16(packed.length);
  const codeAt = absmaxAt + align16(absmax.length * 4);
  const total = codeAt + 64;
  const api = wasmApi()!;
  const memory = new api.Memory({ initial: Math.ceil(total / 65536) });
  const heap = new Uint8Array(memory.buffer);
  heap.set(packed, packedAt);
  new Float32Array(memory.buffer, absmaxAt, absmax.length).set(absmax);
  new Float32Array(memory.buffer, codeAt, 16).set(code);
  const out = new Float32Array(memory.buffer, 0, n);
  if (fullBlocks > 0) {
    const instance = new api.Instance(kernel, { env: { memory } });
    (instance.exports.dequant as (...args: number[]) => void)(0, packedAt, absmaxAt, codeAt, fullBlocks, blocksize / 2);
  }
  const done = fullBlocks * blocksize;
  if (done < n) {
    const tail = dequantizeBlockwise4bit(packed.subarray(done / 2), absmax.subarray(fullBlocks), code, blocksize, n - done);
    out.set(tail, done);
  }
  return out;
}

function align16(bytes: number): number {
  return Math.ceil(bytes / 16) * 16;
}
