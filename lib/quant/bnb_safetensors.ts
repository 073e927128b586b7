// bitsandbytes / transformers 4-bit checkpoints in safetensors: per quantized weight `<m>.weight`
// (uint8 [ceil(n/2), 1]), `.absmax`, `.quant_map`, `.nested_absmax`, `.nested_quant_map` and
// `.quant_state.bitsandbytes__<type>` (UTF-8 JSON as Python's json.dumps writes it; QuantState.as_dict).
import { FileFormatError, InvalidArgumentError, expected } from "../errors.js";
import { SafetensorsFile, float32Bytes, toFloat32, writeSafetensors, type SafetensorsTensor } from "../io/safetensors.js";
import { BLOCKSIZES } from "./blockwise_4bit.js";
import { identifyCodeBook } from "./codebooks.js";
import { QuantizedTensor } from "./quantized_tensor.js";

const STATE_PREFIX = ".quant_state.bitsandbytes__";

/** The JSON record bitsandbytes packs into `quant_state.bitsandbytes__<type>`. */
export interface BnbQuantState {
  quant_type: string;
  blocksize: number;
  dtype: string;
  shape: number[];
  nested_blocksize?: number;
  nested_dtype?: string;
  nested_offset?: number;
}

/** A 4-bit checkpoint read whole: quantized weights by name, every other tensor as stored. */
export interface Bnb4bitCheckpoint {
  quantized: Map<string, QuantizedTensor>;
  plain: Map<string, SafetensorsTensor>;
  metadata: Record<string, string>;
}

/** A float32 tensor as plain data: row-major values and a shape. */
export interface Float32TensorData {
  shape: number[];
  values: Float32Array;
}

/** The tensors transformers writes for the quantized weight `name` (e.g. "model.layers.0.mlp.up_proj.weight"). */
export function bnb4bitTensors(name: string, q: QuantizedTensor): Map<string, SafetensorsTensor> {
  const type = bnbTypeName(q);
  const out = new Map<string, SafetensorsTensor>();
  out.set(name, { dtype: "U8", shape: [q.packed.length, 1], data: q.packed });
  if (q.nested) {
    out.set(`${name}.absmax`, { dtype: "U8", shape: [q.nested.codes.length], data: q.nested.codes });
    out.set(`${name}.nested_absmax`, f32Tensor(q.nested.nestedAbsmax));
    out.set(`${name}.nested_quant_map`, f32Tensor(q.nested.nestedMap));
  } else {
    out.set(`${name}.absmax`, f32Tensor(q.absmax!));
  }
  out.set(`${name}.quant_map`, f32Tensor(q.code));
  const json = Buffer.from(quantStateJson(q), "utf8");
  out.set(`${name}${STATE_PREFIX}${type}`, { dtype: "U8", shape: [json.length], data: new Uint8Array(json.buffer, json.byteOffset, json.length) });
  return out;
}

/** The quant_state JSON text of `q`, byte for byte as Python's `json.dumps` writes bitsandbytes' dict. */
export function quantStateJson(q: QuantizedTensor): string {
  const fields: Array<[string, string]> = [
    ["quant_type", JSON.stringify(bnbTypeName(q))],
    ["blocksize", String(q.blocksize)],
    ["dtype", JSON.stringify(q.dtype)],
    ["shape", `[${q.shape.join(", ")}]`],
  ];
  if (q.nested) {
    fields.push(["nested_blocksize", String(q.nested.nestedBlocksize)], ["nested_dtype", JSON.stringify("float32")], ["nested_offset", pythonFloatRepr(q.nested.offset)]);
  }
  return `{${fields.map(([k, v]) => `"${k}": ${v}`).join(", ")}}`;
}

/** Names of the quantized weights in an open file (those with a quant_state entry). */
export function bnb4bitWeightNames(file: SafetensorsFile): string[] {
  return file.names().flatMap((n) => {
    const at = n.indexOf(STATE_PREFIX);
    return at > 0 ? [n.slice(0, at)] : [];
  });
}

/** Rebuilds the {@link QuantizedTensor} stored under `name`, using the code books stored beside it. */
export function quantizedTensorFromBnb(file: SafetensorsFile, name: string): QuantizedTensor {
  const bad = (what: string, got: unknown, hint?: string) => new FileFormatError(file.path, expected(`${what} for quantized weight "${name}"`, got, hint));
  const stateName = file.names().find((n) => n.startsWith(`${name}${STATE_PREFIX}`));
  if (!stateName) throw bad(`a "${name}${STATE_PREFIX}nf4|fp4" entry`, "none");
  let state: BnbQuantState;
  try {
    state = JSON.parse(Buffer.from(file.readBytes(stateName)).toString("utf8")) as BnbQuantState;
  } catch (error) {
    throw bad("quant_state JSON", (error as Error).message);
  }
  if (!Array.isArray(state.shape) || !state.shape.every((d) => Number.isInteger(d) && d > 0)) throw bad("a quant_state shape", state.shape);
  if (!BLOCKSIZES.includes(state.blocksize)) throw bad(`a blocksize in ${BLOCKSIZES.join(", ")}`, state.blocksize);
  const n = state.shape.reduce((a, b) => a * b, 1);
  const blocks = Math.ceil(n / state.blocksize);
  const weight = file.entry(name);
  if (weight.dtype !== "U8") throw bad("packed weight dtype U8", weight.dtype, "Only uint8 quant_storage is supported.");
  if (weight.dataOffsets[1] - weight.dataOffsets[0] !== Math.ceil(n / 2)) throw bad(`${Math.ceil(n / 2)} packed bytes for shape [${state.shape.join(", ")}]`, weight.dataOffsets[1] - weight.dataOffsets[0]);
  const packed = file.readBytes(name);
  const code = file.readFloat32(`${name}.quant_map`);
  if (code.length !== 16) throw bad("a 16-entry quant_map", code.length);
  const absmaxEntry = file.entry(`${name}.absmax`);
  const nested = state.nested_offset !== undefined;
  let absmax: Float32Array | null = null;
  let nestedState: QuantizedTensor["nested"] = null;
  if (nested) {
    if (absmaxEntry.dtype !== "U8") throw bad("absmax dtype U8 (double-quantized)", absmaxEntry.dtype);
    const nestedBlocksize = state.nested_blocksize ?? 256;
    const nestedAbsmax = file.readFloat32(`${name}.nested_absmax`);
    const nestedMap = file.readFloat32(`${name}.nested_quant_map`);
    if (nestedMap.length !== 256) throw bad("a 256-entry nested_quant_map", nestedMap.length);
    nestedState = { codes: file.readBytes(`${name}.absmax`), nestedAbsmax, nestedMap, offset: Math.fround(state.nested_offset!), nestedBlocksize };
  } else {
    absmax = file.readFloat32(`${name}.absmax`);
  }
  const count = nested ? nestedState!.codes.length : absmax!.length;
  if (count !== blocks) throw bad(`${blocks} absmax values`, count);
  const known = identifyCodeBook(code);
  try {
    return new QuantizedTensor({ shape: state.shape, quantType: known, code, blocksize: state.blocksize, packed, absmax, nested: nestedState, dtype: state.dtype, name });
  } catch (error) {
    throw bad("a consistent quantized state", (error as Error).message);
  }
}

/** Writes quantized weights (six keys each, or four without double quantization) and plain tensors, atomically. */
export function writeBnb4bitSafetensors(path: string, checkpoint: { quantized: ReadonlyMap<string, QuantizedTensor>; plain?: ReadonlyMap<string, SafetensorsTensor>; metadata?: Record<string, string> }): void {
  const tensors = new Map<string, SafetensorsTensor>(checkpoint.plain ?? []);
  for (const [name, q] of checkpoint.quantized) {
    for (const [key, tensor] of bnb4bitTensors(name, q)) {
      if (tensors.has(key)) throw new InvalidArgumentError("writeBnb4bitSafetensors", expected("distinct tensor names", `"${key}" twice`));
      tensors.set(key, tensor);
    }
  }
  writeSafetensors(path, tensors, checkpoint.metadata ?? { format: "pt" });
}

/** Opens a 4-bit checkpoint: quantized weights as {@link QuantizedTensor}s, other tensors as stored. */
export function openBnb4bitSafetensors(path: string): Bnb4bitCheckpoint {
  const file = SafetensorsFile.open(path);
  const quantized = new Map<string, QuantizedTensor>();
  const owned = new Set<string>();
  for (const name of bnb4bitWeightNames(file)) {
    quantized.set(name, quantizedTensorFromBnb(file, name));
    for (const key of file.names()) if (key === name || key.startsWith(`${name}.`)) owned.add(key);
  }
  const plain = new Map<string, SafetensorsTensor>();
  for (const key of file.names()) if (!owned.has(key)) plain.set(key, file.readTensor(key));
  return { quantized, plain, metadata: file.metadata };
}

/**
 * Reads a bitsandbytes 4-bit safetensors file as float32 tensors: quantized weights dequantized to
 * their original shape, floating-point tensors converted, other dtypes rejected. For loading a
 * quantized checkpoint into a float32 model.
 */
export function readBnb4bitSafetensors(path: string): Map<string, Float32TensorData> {
  const { quantized, plain } = openBnb4bitSafetensors(path);
  const out = new Map<string, Float32TensorData>();
  for (const [name, q] of quantized) out.set(name, { shape: [...q.shape], values: q.dequantizeToArray() });
  for (const [name, t] of plain) {
    out.set(name, { shape: [...t.shape], values: toFloat32(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), t.dtype, `${path}: tensor "${name}"`) });
  }
  return out;
}

/** Python's `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [mantissa, expText] = x.toExponential().split("e") as [string, string];
  const exponent = Number(expText);
  const negative = mantissa.startsWith("-");
  const digits = mantissa.replace("-", "").replace(".", "");
  let body: string;
  if (exponent < -4 || exponent >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    body = `${m}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}`;
  } else if (exponent < 0) {
    body = `0.${"0".repeat(-exponent - 1)}${digits}`;
  } else if (digits.length <= exponent + 1) {
    body = `${digits}${"0".repeat(exponent + 1 - digits.length)}.0`;
  } else {
    body = `${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`;
  }
  return negative ? `-${body}` : body;
}

function bnbTypeName(q: QuantizedTensor): "nf4" | "fp4" {
  if (q.quantType === "nf4" || q.quantType === "fp4") return q.quantType;
  throw new InvalidArgumentError("bnb4bitTensors", expected("an nf4 or fp4 tensor (bitsandbytes stores only these)", `${q.quantType}${q.name ? ` ("${q.name}")` : ""}`, "Save INT4 or custom code books with another format."));
}

function f32Tensor(values: Float32Array): SafetensorsTensor {
  return { dtype: "F32", shape: [values.length], data: float32Bytes(values) };
}
