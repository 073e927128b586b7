// The quantized-tensor type: packed 4-bit codes in host memory plus their state (absmax or nested
// absmax, code book), as bitsandbytes' (packed, QuantState) pair; and quantize4bit, which makes one.
import * as tf from "@tensorflow/tfjs-core";
import { InvalidArgumentError, TensorError, expected } from "../errors.js";
import type { MemoryItem, MemoryReporter } from "../memory/types.js";
import { dequantizeBlockwise4bit, quantizeBlockwise4bit, validateBlocksize } from "./blockwise_4bit.js";
import { codeBook, type QuantType } from "./codebooks.js";
import { dequantizeToWasmTensor } from "./dequant_backend.js";
import { DEQUANT_KERNEL, dequantizeBlockwise4bitSimd } from "./dequant_simd.js";
import { NESTED_BLOCKSIZE, dequantizeAbsmax, doubleQuantize, type NestedAbsmax } from "./double_quant.js";

/** Options of {@link quantize4bit}. */
export interface Quantize4bitOptions {
  /** Built-in code book; ignored when `code` is given. Default "nf4". */
  quantType?: QuantType;
  /** A user 16-entry code book (values in [-1, 1], index = code). */
  code?: ArrayLike<number>;
  /** Elements per absmax block: a power of two in 32..4096. Default 64. */
  blocksize?: number;
  /** Quantize the absmax scales to 8 bits (QLoRA's double quantization). Default false, as bitsandbytes' quantize_4bit. */
  doubleQuant?: boolean;
  /**
   * Byte written for an all-zero block. Default: the code of 0.0 in both nibbles (0x77 for NF4 and
   * INT4, 0x00 for FP4), as bitsandbytes' CPU backend writes; its CUDA kernel writes 0x00. Both read as zeros.
   */
  zeroBlockByte?: number;
  /** Tensor name, used in error messages and memory reports. */
  name?: string;
  /** The weight's original dtype as bitsandbytes records it in quant_state ("float32", "bfloat16", "float16"). Default "float32". */
  dtype?: string;
}

/** Defaults of {@link quantize4bit}. */
export const defaultQuantize4bitOptions = { quantType: "nf4", blocksize: 64, doubleQuant: false } as const;

/** Everything a {@link QuantizedTensor} holds: a plain record, as bitsandbytes' QuantState. */
export interface QuantState4bit {
  shape: number[];
  quantType: QuantType | "custom";
  /** 16 code values (`quant_map`). */
  code: Float32Array;
  blocksize: number;
  /** `ceil(n / 2)` bytes, first element in the high nibble. */
  packed: Uint8Array;
  /** float32 absmax per block, or null when the scales are double-quantized. */
  absmax: Float32Array | null;
  /** Double-quantized scales, or null. */
  nested: NestedAbsmax | null;
  /** dtype the weight had before quantization, as bitsandbytes records it ("float32", "bfloat16"). */
  dtype?: string;
  name?: string;
}

/** A 4-bit blockwise-quantized tensor held in host memory (0.5 byte per value plus scales). */
export class QuantizedTensor implements MemoryReporter {
  readonly shape: number[];
  readonly size: number;
  readonly quantType: QuantType | "custom";
  readonly blocksize: number;
  readonly code: Float32Array;
  readonly packed: Uint8Array;
  readonly absmax: Float32Array | null;
  readonly nested: NestedAbsmax | null;
  readonly dtype: string;
  readonly name: string | undefined;
  private disposed = false;

  constructor(state: QuantState4bit) {
    const where = "QuantizedTensor";
    validateBlocksize(state.blocksize, where);
    const size = state.shape.reduce((a, b) => a * b, 1);
    if (size === 0 || !state.shape.every((d) => Number.isInteger(d) && d > 0)) throw new TensorError(where, expected("a non-empty shape", `[${state.shape.join(", ")}]`));
    if (state.code.length !== 16) throw new TensorError(where, expected("a 16-entry code book", `${state.code.length} entries`));
    if (state.packed.length !== Math.ceil(size / 2)) throw new TensorError(where, expected(`${Math.ceil(size / 2)} packed bytes for shape [${state.shape.join(", ")}]`, `${state.packed.length}`));
    const blocks = Math.ceil(size / state.blocksize);
    if ((state.absmax === null) === (state.nested === null)) throw new TensorError(where, expected("exactly one of absmax and nested", state.absmax ? "both" : "neither"));
    const scaleCount = state.absmax ? state.absmax.length : state.nested!.codes.length;
    if (scaleCount !== blocks) throw new TensorError(where, expected(`${blocks} scales for ${size} values in blocks of ${state.blocksize}`, `${scaleCount}`));
    if (state.nested) {
      const nb = Math.ceil(blocks / state.nested.nestedBlocksize);
      if (state.nested.nestedAbsmax.length !== nb || state.nested.nestedMap.length !== 256) {
        throw new TensorError(where, expected(`${nb} nested absmax values and a 256-entry nested map`, `${state.nested.nestedAbsmax.length} and ${state.nested.nestedMap.length}`));
      }
    }
    this.shape = [...state.shape];
    this.size = size;
    this.quantType = state.quantType;
    this.blocksize = state.blocksize;
    this.code = state.code;
    this.packed = state.packed;
    this.absmax = state.absmax;
    this.nested = state.nested;
    this.dtype = state.dtype ?? "float32";
    this.name = state.name;
  }

  /** True when the scales are double-quantized (8-bit codes + nested absmax). */
  get doubleQuant(): boolean {
    return this.nested !== null;
  }

  /** The float32 absmax of every block (rebuilt from the nested state when double-quantized). */
  scales(): Float32Array {
    this.checkAlive("scales");
    return this.absmax ? this.absmax : dequantizeAbsmax(this.nested!);
  }

  /**
   * The dequantized values, float32, row-major, written into `out` when given (a caller-owned buffer
   * reused across calls: no allocation) or into a new array. The WebAssembly SIMD kernel does the work
   * where available, the scalar kernel elsewhere; both give the same bits.
   */
  dequantizeToArray(out?: Float32Array): Float32Array {
    this.checkAlive("dequantizeToArray");
    const result = out ?? new Float32Array(this.size);
    if (result.length !== this.size) throw new InvalidArgumentError("QuantizedTensor.dequantizeToArray", expected(`an output of ${this.size} values`, `${result.length}`));
    if (DEQUANT_KERNEL.available()) return dequantizeBlockwise4bitSimd(this.packed, this.scales(), this.code, this.blocksize, this.size, result);
    return dequantizeBlockwise4bit(this.packed, this.scales(), this.code, this.blocksize, this.size, result);
  }

  /**
   * The dequantized values as a new float32 tensor of `shape` on the active backend (the caller
   * disposes it). On the wasm backend the kernel writes the tensor's own heap memory in place; on
   * other backends a new host array becomes the tensor's storage (the cpu backend keeps the array it
   * is given, so a reused buffer could not be handed over).
   */
  dequantize(): tf.Tensor {
    this.checkAlive("dequantize");
    const inPlace = dequantizeToWasmTensor(this.packed, this.scales(), this.code, this.blocksize, this.shape);
    return inPlace ?? tf.tensor(this.dequantizeToArray(), this.shape, "float32");
  }

  /** Bytes this tensor holds right now: packed codes plus every quantization constant. */
  residentBytes(): number {
    return this.memoryItems().reduce((sum, item) => sum + item.bytes, 0);
  }

  /** Resident bits per value, scales and code books included. */
  bitsPerParam(): number {
    return (this.residentBytes() * 8) / this.size;
  }

  /** Packed codes (base_packed) and scales + code books (quant_constants), all in host memory. */
  memoryItems(owner?: string): MemoryItem[] {
    if (this.disposed) return [];
    const who = owner ?? this.name;
    const constants = this.nested
      ? this.nested.codes.byteLength + this.nested.nestedAbsmax.byteLength + this.nested.nestedMap.byteLength + 4 // + offset
      : this.absmax!.byteLength;
    return [
      { category: "base_packed", bytes: this.packed.byteLength, owner: who, onBackend: false },
      { category: "quant_constants", bytes: constants + this.code.byteLength, owner: who, onBackend: false },
    ];
  }

  /** Releases the tensor; later use throws. Host buffers are freed by the garbage collector. */
  dispose(): void {
    this.disposed = true;
  }

  /** One line: type, shape, block size, bits per value. */
  toString(): string {
    return `QuantizedTensor(${this.quantType}${this.doubleQuant ? "+DQ" : ""}, [${this.shape.join(", ")}], blocksize ${this.blocksize}, ${this.disposed ? "disposed" : `${this.bitsPerParam().toFixed(3)} bits/param`})`;
  }

  private checkAlive(where: string): void {
    if (this.disposed) throw new TensorError(`QuantizedTensor.${where}`, expected("a live tensor", "a disposed one", this.name ? `Tensor "${this.name}".` : undefined));
  }
}

/**
 * Quantizes float32 values of `shape` (row-major; [out, in] for a Linear) to 4 bits blockwise,
 * byte-compatible with bitsandbytes' quantize_4bit. Throws on NaN/Inf (naming the block), an
 * unsupported block size, a non-float32 array, an empty tensor, or a shape that does not match.
 */
export function quantize4bit(values: Float32Array, shape: number[], options: Quantize4bitOptions = {}): QuantizedTensor {
  const where = "quantize4bit";
  const label = options.name ? ` for "${options.name}"` : "";
  if (!(values instanceof Float32Array)) {
    const got = values === null || typeof values !== "object" ? String(values) : (values as object).constructor?.name ?? typeof values;
    throw new TensorError(where, expected(`a Float32Array${label}`, got, "Convert integer or half-precision data to float32 first (toFloat32 in lib/io/safetensors)."));
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new InvalidArgumentError(where, expected(`a shape of non-negative integers${label}`, shape));
  const size = shape.reduce((a, b) => a * b, 1);
  if (values.length === 0 || size === 0) throw new TensorError(where, expected(`a non-empty tensor${label}`, `shape [${shape.join(", ")}] with ${values.length} values`));
  if (size !== values.length) throw new InvalidArgumentError(where, expected(`${size} values for shape [${shape.join(", ")}]${label}`, values.length));
  const blocksize = options.blocksize ?? defaultQuantize4bitOptions.blocksize;
  validateBlocksize(blocksize, where);
  const book = options.code !== undefined ? codeBook(options.code) : codeBook(options.quantType ?? defaultQuantize4bitOptions.quantType);
  const zeroBlockByte = options.zeroBlockByte ?? defaultZeroBlockByte(book.values);
  if (!Number.isInteger(zeroBlockByte) || zeroBlockByte < 0 || zeroBlockByte > 255) throw new InvalidArgumentError(where, expected("zeroBlockByte in 0..255", zeroBlockByte));
  const { packed, absmax } = quantizeBlockwise4bit(values, { code: book.values, blocksize, zeroBlockByte, name: options.name });
  const doubleQuant = options.doubleQuant ?? defaultQuantize4bitOptions.doubleQuant;
  return new QuantizedTensor({
    shape,
    quantType: book.name,
    code: book.values,
    blocksize,
    packed,
    absmax: doubleQuant ? null : absmax,
    nested: doubleQuant ? doubleQuantize(absmax) : null,
    dtype: options.dtype ?? "float32",
    name: options.name,
  });
}

/** The byte bitsandbytes' CPU backend writes for an all-zero block: the code nearest 0.0, twice. */
export function defaultZeroBlockByte(code: Float32Array): number {
  let best = 0;
  for (let c = 1; c < code.length; c++) if (Math.abs(code[c]!) < Math.abs(code[best]!)) best = c;
  return (best << 4) | best;
}

/**
 * Bytes a 4-bit tensor of n values holds, as {@link QuantizedTensor.memoryItems} files them: packed codes
 * (half a byte per value) and constants (a float32 absmax per block, or with double quantization one
 * byte per block, a float32 nested absmax per 256 blocks, the 256-entry nested map and the offset; and
 * the 16-entry code book).
 */
export function quantized4bitBytes(n: number, options: { blocksize: number; doubleQuant: boolean }): { packed: number; constants: number } {
  const blocks = Math.ceil(n / options.blocksize);
  const scales = options.doubleQuant ? blocks + 4 * Math.ceil(blocks / NESTED_BLOCKSIZE) + 4 * 256 + 4 : 4 * blocks;
  return { packed: Math.ceil(n / 2), constants: scales + 4 * 16 };
}
