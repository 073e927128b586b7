// The safetensors file format (github.com/huggingface/safetensors): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__"?}, then raw bytes.
// Tensors are read lazily from disk, so a large checkpoint is never held whole in memory.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { FileFormatError, InvalidArgumentError, expected } from "../errors.js";
import { float16Value } from "./half_precision.js";
import { writeFileAtomic } from "./atomic_write.js";

/** The dtypes safetensors defines. */
export type SafetensorsDtype = "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U64" | "U32" | "U16" | "U8" | "BOOL";

const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

/** Bytes per element of a safetensors dtype. */
export function dtypeBytes(dtype: SafetensorsDtype): number {
  return DTYPE_BYTES[dtype];
}

/** One tensor's header entry: where its bytes are, relative to the start of the data section. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** [begin, end) byte offsets into the data section. */
  dataOffsets: [number, number];
}

/** A tensor to write: raw little-endian bytes (or a typed array whose bytes are used as they are). */
export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: ArrayBufferView;
}

/** An open safetensors file: the parsed header, and tensors read on demand. */
export class SafetensorsFile {
  private constructor(
    readonly path: string,
    readonly entries: ReadonlyMap<string, SafetensorsEntry>,
    readonly metadata: Record<string, string>,
    private readonly dataStart: number,
  ) {}

  /** Opens and validates a safetensors file (header only; tensor bytes are read when asked for). */
  static open(path: string): SafetensorsFile {
    const fd = openFile(path);
    try {
      const size = fstatSync(fd).size;
      if (size < 8) throw new FileFormatError(path, expected("a safetensors file of at least 8 bytes", `${size} bytes`, "The file is truncated or not a safetensors file."));
      const lengthBytes = readExactly(fd, 0, 8, path);
      const headerLength = Number(Buffer.from(lengthBytes).readBigUInt64LE(0));
      if (headerLength <= 0 || 8 + headerLength > size) {
        throw new FileFormatError(path, expected(`a header length between 1 and ${size - 8}`, headerLength, "The file is truncated or not a safetensors file."));
      }
      const headerText = Buffer.from(readExactly(fd, 8, headerLength, path)).toString("utf8");
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(headerText) as Record<string, unknown>;
      } catch (error) {
        throw new FileFormatError(path, expected("a JSON header", `invalid JSON (${(error as Error).message})`));
      }
      const dataStart = 8 + headerLength;
      const dataLength = size - dataStart;
      const entries = new Map<string, SafetensorsEntry>();
      let metadata: Record<string, string> = {};
      for (const [name, value] of Object.entries(header)) {
        if (name === "__metadata__") {
          metadata = (value ?? {}) as Record<string, string>;
          continue;
        }
        entries.set(name, parseEntry(path, name, value, dataLength));
      }
      requireExactTiling(path, entries, dataLength);
      return new SafetensorsFile(path, entries, metadata, dataStart);
    } finally {
      closeSync(fd);
    }
  }

  /** Tensor names in file order (by data offset). */
  names(): string[] {
    return [...this.entries.values()].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0]).map((e) => e.name);
  }

  /** The header entry of `name`, or a clear error listing what the file has. */
  entry(name: string): SafetensorsEntry {
    const found = this.entries.get(name);
    if (!found) {
      const some = [...this.entries.keys()].slice(0, 6).join(", ");
      throw new FileFormatError(this.path, expected(`a tensor named "${name}"`, `none (the file has ${this.entries.size} tensors: ${some}${this.entries.size > 6 ? ", ..." : ""})`));
    }
    return found;
  }

  /** The raw bytes of one tensor, as stored. */
  readBytes(name: string): Uint8Array {
    const entry = this.entry(name);
    const fd = openFile(this.path);
    try {
      return readExactly(fd, this.dataStart + entry.dataOffsets[0], entry.dataOffsets[1] - entry.dataOffsets[0], this.path);
    } finally {
      closeSync(fd);
    }
  }

  /** A floating-point tensor (F32, F16, BF16 or F64) converted to float32. */
  readFloat32(name: string): Float32Array {
    const entry = this.entry(name);
    return toFloat32(this.readBytes(name), entry.dtype, `${this.path}: tensor "${name}"`);
  }

  /** A tensor in a form ready to write back unchanged. */
  readTensor(name: string): SafetensorsTensor {
    const entry = this.entry(name);
    return { dtype: entry.dtype, shape: [...entry.shape], data: this.readBytes(name) };
  }
}

/** Converts stored bytes of a floating-point dtype to float32 (F16/BF16 exactly, F64 rounded). */
export function toFloat32(bytes: Uint8Array, dtype: SafetensorsDtype, what: string): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case "F32": {
      const out = new Float32Array(bytes.byteLength / 4);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case "F64": {
      const out = new Float32Array(bytes.byteLength / 8);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    }
    case "BF16": {
      const out = new Float32Array(bytes.byteLength / 2);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case "F16": {
      const out = new Float32Array(bytes.byteLength / 2);
      for (let i = 0; i < out.length; i++) out[i] = float16Value(view.getUint16(i * 2, true));
      return out;
    }
    default:
      throw new FileFormatError(what, expected("a floating-point dtype (F32, F16, BF16, F64)", dtype));
  }
}

/** Little-endian bytes of a float32 array (a copy, independent of platform endianness). */
export function float32Bytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}

/** Serialises tensors to safetensors bytes: header keys in data order, header padded to 8 bytes. */
export function encodeSafetensors(tensors: ReadonlyMap<string, SafetensorsTensor> | Record<string, SafetensorsTensor>, metadata?: Record<string, string>): Uint8Array[] {
  const map: ReadonlyMap<string, SafetensorsTensor> = tensors instanceof Map ? tensors : new Map(Object.entries(tensors as Record<string, SafetensorsTensor>));
  // Order as the reference writer does: larger alignment first, then by name.
  const names = [...map.keys()].sort((a, b) => DTYPE_BYTES[map.get(b)!.dtype] - DTYPE_BYTES[map.get(a)!.dtype] || (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const tensor = map.get(name)!;
    validateTensor(name, tensor);
    const bytes = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    header[name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let headerText = JSON.stringify(header);
  const padded = Math.ceil(Buffer.byteLength(headerText) / 8) * 8;
  headerText += " ".repeat(padded - Buffer.byteLength(headerText));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(padded));
  return [prefix, Buffer.from(headerText, "utf8"), ...chunks];
}

/** Writes a safetensors file atomically. */
export function writeSafetensors(path: string, tensors: ReadonlyMap<string, SafetensorsTensor> | Record<string, SafetensorsTensor>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

function validateTensor(name: string, tensor: SafetensorsTensor): void {
  if (!(tensor.dtype in DTYPE_BYTES)) throw new InvalidArgumentError("writeSafetensors", expected(`a safetensors dtype for "${name}"`, tensor.dtype));
  const count = tensor.shape.reduce((a, b) => a * b, 1);
  const want = count * DTYPE_BYTES[tensor.dtype];
  if (tensor.data.byteLength !== want) {
    throw new InvalidArgumentError("writeSafetensors", expected(`${want} bytes for "${name}" (${tensor.dtype} [${tensor.shape.join(", ")}])`, `${tensor.data.byteLength} bytes`));
  }
}

function parseEntry(path: string, name: string, value: unknown, dataLength: number): SafetensorsEntry {
  const raw = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const dtype = raw?.dtype as SafetensorsDtype;
  if (!(dtype in DTYPE_BYTES)) throw new FileFormatError(path, expected(`a known dtype for tensor "${name}"`, raw?.dtype));
  const shape = raw.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new FileFormatError(path, expected(`a shape of non-negative integers for "${name}"`, shape));
  const offsets = raw.data_offsets as number[];
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    throw new FileFormatError(path, expected(`data_offsets [begin, end] for "${name}"`, offsets));
  }
  const want = shape.reduce((a: number, b: number) => a * b, 1) * DTYPE_BYTES[dtype];
  if (offsets[1] - offsets[0] !== want) {
    throw new FileFormatError(path, expected(`${want} bytes for "${name}" (${dtype} [${shape.join(", ")}])`, `${offsets[1] - offsets[0]} bytes (data_offsets [${offsets[0]}, ${offsets[1]}])`));
  }
  if (offsets[1] > dataLength) throw new FileFormatError(path, expected(`tensor "${name}" to end within the ${dataLength} data bytes`, `end offset ${offsets[1]}`, "The file is truncated."));
  return { name, dtype, shape: shape as number[], dataOffsets: [offsets[0], offsets[1]] };
}

/**
 * Refuses tensors whose byte ranges overlap or leave gaps: sorted by begin, the [begin, end) ranges
 * must tile the data section from 0 to its last byte, as the reference implementation requires.
 * Otherwise one tensor could silently read another's bytes.
 */
function requireExactTiling(path: string, entries: ReadonlyMap<string, SafetensorsEntry>, dataLength: number): void {
  const sorted = [...entries.values()].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let end = 0;
  let previous: SafetensorsEntry | undefined;
  for (const entry of sorted) {
    const [begin] = entry.dataOffsets;
    if (begin !== end) {
      const after = previous ? `right after "${previous.name}" ends` : "at the start of the data section";
      const found = begin < end ? `${begin}, inside "${previous!.name}" [${previous!.dataOffsets.join(", ")})` : `${begin}, leaving ${begin - end} unused bytes before it`;
      throw new FileFormatError(path, expected(`tensor "${entry.name}" to begin at byte ${end} (${after})`, `begin offset ${found}`, "Tensors must not overlap or leave gaps in the data section."));
    }
    end = entry.dataOffsets[1];
    previous = entry;
  }
  if (end !== dataLength) {
    const last = previous ? `the last tensor "${previous.name}" ends at byte ${end}` : "the header lists no tensors";
    throw new FileFormatError(path, expected(`the tensors to fill the ${dataLength} data bytes exactly`, `${dataLength - end} bytes left over (${last})`, "Tensors must not overlap or leave gaps in the data section."));
  }
}

function openFile(path: string): number {
  try {
    return openSync(path, "r");
  } catch (error) {
    throw new FileFormatError(path, expected("a readable file", (error as NodeJS.ErrnoException).code ?? (error as Error).message));
  }
}

function readExactly(fd: number, position: number, length: number, path: string): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, position + done);
    if (n === 0) throw new FileFormatError(path, expected(`${length} bytes at offset ${position}`, `${done}`, "The file is truncated."));
    done += n;
  }
  return out;
}
