// A minimal WebAssembly assembler for the hand-written SIMD kernels (lib/ops, lib/quant, lib/optim; no
// build step): one opcode table, LEB128 integers, sections, one function builder with the instruction
// emitters every kernel shares, and the slice of the JS API they need.
// Encodings: WebAssembly core specification 2.0 and its fixed-width SIMD instructions.

/**
 * Core opcodes, by the specification's names (section 5.4): every one the kernels use, in one table;
 * a kernel needing another adds it here. VOID is the empty block type.
 */
export const OP = {
  BLOCK: 0x02, LOOP: 0x03, END: 0x0b, BR: 0x0c, BR_IF: 0x0d, VOID: 0x40,
  SELECT: 0x1b,
  LOCAL_GET: 0x20, LOCAL_SET: 0x21, LOCAL_TEE: 0x22,
  I32_LOAD: 0x28, F32_LOAD: 0x2a, I32_STORE: 0x36, F32_STORE: 0x38,
  I32_CONST: 0x41, F32_CONST: 0x43,
  I32_EQZ: 0x45, I32_NE: 0x47, I32_LT_U: 0x49, F32_EQ: 0x5b,
  I32_ADD: 0x6a, I32_SUB: 0x6b, I32_SHL: 0x74, F32_ADD: 0x92,
  F32_DIV: 0x95, F32_MAX: 0x97,
  SIMD: 0xfd,
} as const;

/** SIMD opcodes (after the 0xfd prefix), by the specification's names: every one the kernels use. */
export const SIMD_OP = {
  V128_LOAD: 0x00, V128_STORE: 0x0b, V128_CONST: 0x0c, I8X16_SHUFFLE: 0x0d, I8X16_SWIZZLE: 0x0e,
  I32X4_SPLAT: 0x11, F32X4_SPLAT: 0x13, I32X4_EXTRACT_LANE: 0x1b, F32X4_EXTRACT_LANE: 0x1f,
  F32X4_LT: 0x43,
  V128_AND: 0x4e, V128_OR: 0x50, V128_XOR: 0x51,
  V128_LOAD32_LANE: 0x56, V128_LOAD64_LANE: 0x57,
  I8X16_NARROW_I16X8_U: 0x66, I8X16_SHR_U: 0x6d,
  I16X8_NARROW_I32X4_U: 0x86, I16X8_EXTEND_LOW_I8X16_U: 0x89, I16X8_EXTEND_HIGH_I8X16_U: 0x8a, I16X8_SHL: 0x8b, I16X8_SHR_U: 0x8d,
  I32X4_EXTEND_LOW_I16X8_U: 0xa9, I32X4_EXTEND_HIGH_I16X8_U: 0xaa, I32X4_SHL: 0xab, I32X4_SHR_S: 0xac, I32X4_SHR_U: 0xad,
  I32X4_ADD: 0xae, I32X4_SUB: 0xb1, I32X4_MAX_S: 0xb8,
  F32X4_ABS: 0xe0, F32X4_ADD: 0xe4, F32X4_MUL: 0xe6, F32X4_MIN: 0xe8, F32X4_MAX: 0xe9, F32X4_PMIN: 0xea, F32X4_PMAX: 0xeb,
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
function singleFunctionModule(exportName: string, paramCount: number, locals: ReadonlyArray<[number, number]>, code: readonly number[]): Uint8Array {
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

/** A tuple of N local indices (for `count` a literal, so each destructured name is a number). */
export type LocalIndices<N extends number, R extends number[] = []> = R["length"] extends N ? R : LocalIndices<N, [...R, number]>;

/**
 * One kernel function under construction: its locals (numbered after the i32 parameters, in the order
 * they are declared) and its code, with the instruction emitters every kernel uses.
 */
export class FunctionBuilder {
  readonly code: number[] = [];
  private readonly runs: Array<[number, number]> = [];
  private next: number;

  /** A function of `paramCount` i32 parameters (locals 0 .. paramCount - 1). */
  constructor(readonly paramCount: number) {
    this.next = paramCount;
  }

  /** Declares `count` locals of `type` (I32, F32, V128) and returns their indices. */
  locals<N extends number>(type: number, count: N): LocalIndices<N> {
    const first = this.next;
    this.next += count;
    const last = this.runs.at(-1);
    if (last && last[1] === type) last[0] += count;
    else this.runs.push([count, type]);
    return Array.from({ length: count }, (_, i) => first + i) as LocalIndices<N>;
  }

  /** Declares one local of `type` and returns its index. */
  local(type: number): number {
    return this.locals(type, 1)[0]!;
  }

  /** Raw bytes: opcodes and their immediates. */
  op(...bytes: number[]): void {
    this.code.push(...bytes);
  }

  get(local: number): void {
    this.code.push(OP.LOCAL_GET, ...uleb(local));
  }

  set(local: number): void {
    this.code.push(OP.LOCAL_SET, ...uleb(local));
  }

  tee(local: number): void {
    this.code.push(OP.LOCAL_TEE, ...uleb(local));
  }

  /** i32.const x. */
  i32(x: number): void {
    this.code.push(OP.I32_CONST, ...sleb(x));
  }

  /** f32.const x. */
  f32(x: number): void {
    this.code.push(OP.F32_CONST, ...float32Bytes(x));
  }

  /** A SIMD instruction and its immediates. */
  simd(op: number, ...immediates: number[]): void {
    this.code.push(OP.SIMD, ...uleb(op), ...immediates);
  }

  /** v128.const of 16 bytes. */
  v128(bytes: readonly number[]): void {
    this.simd(SIMD_OP.V128_CONST, ...bytes);
  }

  /** v128.const of four equal lanes, i32 or (with `float`) f32. */
  splat(x: number, float = false): void {
    const lanes = float ? new Float32Array([x, x, x, x]) : new Int32Array([x, x, x, x]);
    this.v128([...new Uint8Array(lanes.buffer)]);
  }

  /** `local += step` (i32). */
  add(local: number, step: number): void {
    this.get(local);
    this.i32(step);
    this.code.push(OP.I32_ADD);
    this.set(local);
  }

  /** A loop whose body `body` emits; the body loops back with br_if 0 (see stepUntil, countDown). */
  loop(body: () => void): void {
    this.code.push(OP.LOOP, OP.VOID);
    body();
    this.code.push(OP.END);
  }

  /** Closes a loop body: `ptr += step`, and loops again while `compare(ptr, end)` (i32.ne unless given). */
  stepUntil(ptr: number, step: number, end: number, compare: number = OP.I32_NE): void {
    this.get(ptr);
    this.i32(step);
    this.code.push(OP.I32_ADD);
    this.tee(ptr);
    this.get(end);
    this.code.push(compare, OP.BR_IF, 0);
  }

  /** Stores (lane0 + lane1) + (lane2 + lane3) of the f32x4 local `sum` as an f32 at the address in local `at`. */
  storeLaneSum(at: number, sum: number): void {
    this.get(at);
    for (const pair of [[0, 1], [2, 3]]) {
      for (const lane of pair) {
        this.get(sum);
        this.simd(SIMD_OP.F32X4_EXTRACT_LANE, lane);
      }
      this.code.push(OP.F32_ADD);
    }
    this.code.push(OP.F32_ADD);
    this.op(OP.F32_STORE, 2, 0);
  }

  /** Closes a loop body: `count -= 1`, and loops again while count != 0. */
  countDown(count: number): void {
    this.get(count);
    this.i32(1);
    this.code.push(OP.I32_SUB);
    this.tee(count);
    this.code.push(OP.BR_IF, 0);
  }

  /**
   * The absmax of a block of float32 values, from the address in local `start` to the one in `end` (16
   * bytes at a time): f32x4.abs and f32x4.max over the block (max propagates NaN, so a non-finite block
   * shows in its absmax), then the four lanes' max into the f32 local `absmax`, also stored at the
   * address in local `at`. `cursor` (i32) and `lanes` (v128) are scratch locals.
   */
  blockAbsmax(locals: { start: number; end: number; cursor: number; lanes: number; absmax: number; at: number }): void {
    const { start, end, cursor, lanes, absmax, at } = locals;
    this.splat(0);
    this.set(lanes);
    this.get(start);
    this.set(cursor);
    this.loop(() => {
      this.get(lanes);
      this.get(cursor);
      this.simd(SIMD_OP.V128_LOAD, 0, 0);
      this.simd(SIMD_OP.F32X4_ABS);
      this.simd(SIMD_OP.F32X4_MAX);
      this.set(lanes);
      this.stepUntil(cursor, 16, end);
    });
    for (const lane of [0, 1, 2, 3]) {
      this.get(lanes);
      this.simd(SIMD_OP.F32X4_EXTRACT_LANE, lane);
      if (lane > 0) this.op(OP.F32_MAX);
    }
    this.set(absmax);
    this.get(at);
    this.get(absmax);
    this.op(OP.F32_STORE, 2, 0);
  }

  /** The module of this one function, exported as `exportName`, over an imported memory. */
  module(exportName: string): Uint8Array {
    return singleFunctionModule(exportName, this.paramCount, this.runs, this.code);
  }
}

/** The four little-endian bytes of float32(x). */
export function float32Bytes(x: number): number[] {
  return [...new Uint8Array(new Float32Array([x]).buffer)];
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
