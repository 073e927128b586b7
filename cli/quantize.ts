// `qlora-lab quantize`: quantize a checkpoint's linear weights to NF4/FP4 and write a bitsandbytes /
// transformers 4-bit safetensors file; other tensors are copied unchanged.
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { FileFormatError, InvalidArgumentError, TensorError, expected } from "../lib/errors.js";
import { SafetensorsFile, toFloat32, type SafetensorsDtype, type SafetensorsTensor } from "../lib/io/safetensors.js";
import { validateBlocksize } from "../lib/quant/blockwise_4bit.js";
import { writeBnb4bitSafetensors } from "../lib/quant/bnb_safetensors.js";
import { errorOf } from "../lib/quant/quant_error.js";
import { quantize4bit, type QuantizedTensor } from "../lib/quant/quantized_tensor.js";
import { parseFlags } from "./flags.js";
import { requireWritableFilePath } from "./output_path.js";

const USAGE = `Usage: qlora-lab quantize IN --out OUT.safetensors [options]

Quantizes the 2-D linear weights of IN (a .safetensors file or a Hugging Face model folder) to 4 bits
in bitsandbytes' layout, as transformers' load_in_4bit does; embeddings, norms and the output head are
copied unchanged. Prints what was quantized, bytes before and after, bits per value and the error.

Options:
  --out PATH              output .safetensors file (required; written atomically)
  --quant-type nf4|fp4    4-bit data type (default nf4)
  --double-quant          quantize the absmax scales to 8 bits (QLoRA's double quantization)
  --blocksize N           values per absmax block: 32, 64, ..., 4096 (default 64)
  --include REGEX         tensors to quantize (default: 2-D names ending in "_proj.weight")
  -h, --help              show this help`;

const FLOAT_DTYPES: ReadonlySet<SafetensorsDtype> = new Set(["F32", "F16", "BF16", "F64"]);
const TORCH_DTYPE: Partial<Record<SafetensorsDtype, string>> = { F32: "float32", F16: "float16", BF16: "bfloat16", F64: "float64" };

/** Runs `qlora-lab quantize`; returns the exit code. */
export async function quantize(argv: string[]): Promise<number> {
  const where = "qlora-lab quantize";
  const { values, positionals } = parseFlags(
    where,
    argv,
    {
      out: { type: "string" },
      "quant-type": { type: "string", choices: ["nf4", "fp4"], default: "nf4" },
      "double-quant": { type: "boolean" },
      blocksize: { type: "integer", min: 1, default: 64 },
      include: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    { positionals: true },
  );
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new InvalidArgumentError(where, expected("one input path", positionals.length === 0 ? "none" : positionals.join(" "), "Run with --help for usage."));
  if (!values.out) throw new InvalidArgumentError(where, expected("--out OUT.safetensors", "no --out"));
  const quantType = values["quant-type"] as "nf4" | "fp4";
  const blocksize = values.blocksize;
  validateBlocksize(blocksize, where);
  let include: RegExp | undefined;
  try {
    include = values.include === undefined ? undefined : new RegExp(values.include);
  } catch (error) {
    throw new InvalidArgumentError(where, expected("--include to be a valid regular expression", values.include, (error as Error).message));
  }
  const inputs = resolveInputFiles(positionals[0]!);
  if (inputs.some((p) => resolve(p) === resolve(values.out!))) throw new InvalidArgumentError(where, expected("--out to differ from the input", values.out));
  requireWritableFilePath(where, "--out", values.out);

  const quantized = new Map<string, QuantizedTensor>();
  const plain = new Map<string, SafetensorsTensor>();
  const skipped: string[] = [];
  let metadata: Record<string, string> = { format: "pt" };
  let bytesBefore = 0;
  let quantizedBytesBefore = 0;
  let params = 0;
  let absErrorSum = 0;
  let relErrorSum = 0;
  for (const path of inputs) {
    const file = SafetensorsFile.open(path);
    metadata = { ...file.metadata, ...metadata };
    for (const name of file.names()) {
      const entry = file.entry(name);
      const bytes = entry.dataOffsets[1] - entry.dataOffsets[0];
      bytesBefore += bytes;
      const selected = include ? include.test(name) : /_proj\.weight$/.test(name);
      if (!selected) {
        plain.set(name, file.readTensor(name));
        continue;
      }
      if (!FLOAT_DTYPES.has(entry.dtype)) throw new TensorError(where, expected(`a floating-point dtype for "${name}"`, entry.dtype, "Only float weights can be quantized; narrow --include."));
      if (entry.shape.length !== 2) {
        skipped.push(`${name} [${entry.shape.join(", ")}]`);
        plain.set(name, file.readTensor(name));
        continue;
      }
      const x = toFloat32(file.readBytes(name), entry.dtype, `${path}: tensor "${name}"`);
      const q = quantize4bit(x, entry.shape, { quantType, blocksize, doubleQuant: values["double-quant"] === true, name, dtype: TORCH_DTYPE[entry.dtype] });
      const report = errorOf(x, q);
      quantized.set(name, q);
      quantizedBytesBefore += bytes;
      params += q.size;
      absErrorSum += report.meanAbsError * q.size;
      relErrorSum += report.meanRelError * q.size;
    }
  }
  if (quantized.size === 0) {
    throw new InvalidArgumentError(where, expected("at least one tensor to quantize", "none matched", `Tensors: ${[...plain.keys()].slice(0, 6).join(", ")}${plain.size > 6 ? ", ..." : ""}. Use --include REGEX.`));
  }
  writeBnb4bitSafetensors(values.out, { quantized, plain, metadata });
  const quantizedBytesAfter = [...quantized.values()].reduce((s, q) => s + q.residentBytes(), 0);
  // Per-tensor tables (16-entry code book, 256-entry nested map) dominate small tensors; show both.
  const tables = [...quantized.values()].reduce((s, q) => s + q.code.byteLength + (q.nested ? q.nested.nestedMap.byteLength : 0), 0);
  const bytesAfter = statSync(values.out).size;
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(3)} MiB`;
  const bytesPerValue = quantizedBytesBefore / params;
  console.log(`quantized ${quantized.size} tensors (${params.toLocaleString("en-US")} values) to ${quantType}${values["double-quant"] ? " + double quant" : ""}, blocksize ${blocksize}; copied ${plain.size} tensors unchanged`);
  if (skipped.length) console.log(`skipped (not 2-D): ${skipped.join(", ")}`);
  console.log(`quantized weights: ${mib(quantizedBytesBefore)} -> ${mib(quantizedBytesAfter)}, ${((quantizedBytesAfter * 8) / params).toFixed(3)} bits/param vs ${bytesPerValue * 8} (${(((quantizedBytesAfter - tables) * 8) / params).toFixed(3)} without the per-tensor code books and nested maps)`);
  console.log(`file: ${mib(bytesBefore)} of tensors -> ${mib(bytesAfter)} written to ${values.out}`);
  console.log(`mean |error| ${(absErrorSum / params).toExponential(4)}, mean relative error ${(relErrorSum / params).toFixed(4)}`);
  return 0;
}

/** A .safetensors file, or a folder with model.safetensors or a sharded model.safetensors.index.json. */
function resolveInputFiles(input: string): string[] {
  if (!existsSync(input)) throw new FileFormatError(input, expected("an existing .safetensors file or model folder", "nothing at that path"));
  if (!statSync(input).isDirectory()) return [input];
  const single = join(input, "model.safetensors");
  if (existsSync(single)) return [single];
  const index = join(input, "model.safetensors.index.json");
  if (existsSync(index)) {
    let map: Record<string, string>;
    try {
      map = (JSON.parse(readFileSync(index, "utf8")) as { weight_map: Record<string, string> }).weight_map;
    } catch (error) {
      throw new FileFormatError(index, expected("a JSON index with weight_map", (error as Error).message));
    }
    return [...new Set(Object.values(map))].map((f) => join(input, f));
  }
  throw new FileFormatError(input, expected("model.safetensors or model.safetensors.index.json in the folder", "neither"));
}

