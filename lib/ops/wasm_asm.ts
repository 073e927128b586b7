// A minimal WebAssembly assembler for the hand-written SIMD kernels of lib/quant (no build step):
// LEB128 integers, sections, names, the opcodes the kernels use, and the slice of the JS API they need.
// Encodings: WebAssembly core specification 2.0 and its fixed-width SIMD instructions.

/** Core opcodes used by the kernels. */
export const OP = {
  LOOP: 0x03, BLOCK: 0x02, BR: 0x0c, BR_IF: 0x0d, END: 0x0b, VOID: 0x40,
  LOCAL_GET: 0x20, LOCAL_SET: 0x21, LOCAL_TEE: 0x22,
  I32_LOAD: 0x28, F32_LOAD: 0x2a, I32_STORE: 0x36, F32_STORE: 0x38,
  I32_CONST: 0x41, I32_EQZ: 0x45, I32_NE: 0x47, I32_ADD: 0x6a, I32_SUB: 0x6b,
  F32_DIV: 0x95, F32_MAX: 0x97,
  SIMD: 0xfd,
} as const;

/** SIMD opcodes (after the 0xfd prefix) used by the kernels. */
export const SIMD_OP = {
  V128_LOAD: 0x00, V128_STORE: 0x0b, V128_CONST: 0x0c, SHUFFLE: 0x0d, SWIZZLE: 0x0e,
  I32X4_SPLAT: 0x11, F32X4_SPLAT: 0x13, F32X4_EXTRACT_LANE: 0x1f,
  F32X4_LT: 0x43, V128_AND: 0x4e, V128_OR: 0x50,
  I8X16_NARROW_I16X8_U: 0x66, I8X16_SHR_U: 0x6d,
  I16X8_NARROW_I32X4_U: 0x86, I16X8_SHL: 0x8b, I16X8_SHR_U: 0x8d,
  I32X4_SUB: 0xb1,
  F32X4_ABS: 0xe0, F32X4_MIN: 0xe8, F32X4_MAX: 0xe9, F32X4_MUL: 0xe6,
} as const;

/** Value types. */
export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;

/** The slice of the WebAssembly API lib/quant uses (the project compiles without DOM typings). */
export interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
}

/** A compiled WebAssembly module (opaque). */
export type WasmModule = object;

/** A WebAssembly linear memory. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** The global WebAssembly object, or undefined where there is none. */
export function wasmApi(): WasmApi | undefined {
  return (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
}

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (for i32.const). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** One section: id, size, body. */
export function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** A length-prefixed ASCII name. */
export function name(text: string): number[] {
  return [...uleb(text.length), ...[...text].map((c) => c.charCodeAt(0))];
}

/**
 * A module of one exported function `exportName(params: i32...)` with no result, importing
 * `env.memory` (at least one page); `locals` are [count, type] runs.
 */
export function singleFunctionModule(exportName: string, paramCount: number, locals: Array<[number, number]>, code: number[]): Uint8Array {
  const body = [...uleb(locals.length), ...locals.flatMap(([count, type]) => [...uleb(count), type]), ...code, OP.END];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, paramCount, ...new Array(paramCount).fill(I32), 0]),
    ...section(2, [1, ...name("env"), ...name("memory"), 0x02, 0x00, 1]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name(exportName), 0x00, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

/** Compiles module bytes, or returns null where WebAssembly (SIMD) is unavailable. */
export function compileModule(bytes: Uint8Array): WasmModule | null {
  const api = wasmApi();
  if (!api) return null;
  try {
    return new api.Module(bytes);
  } catch {
    return null;
  }
}

/** Rounds a byte count up to a multiple of 16 (v128 alignment). */
export function align16(bytes: number): number {
  return Math.ceil(bytes / 16) * 16;
}
