import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { float16Value } from "../../../lib/io/half_precision.js";
import { SafetensorsFile, encodeSafetensors, writeSafetensors, toFloat32, type SafetensorsTensor } from "../../../lib/io/safetensors.js";
import { FileFormatError, InvalidArgumentError } from "../../../lib/errors.js";

const HF_MODEL = new URL("../../../../shared/models/stories260K-hf/model.safetensors", import.meta.url).pathname;

test("reads the real stories260K-hf checkpoint written by the reference safetensors library", () => {
  const file = SafetensorsFile.open(HF_MODEL);
  const q = file.entry("model.layers.0.self_attn.q_proj.weight");
  assert.equal(q.dtype, "F32");
  assert.deepEqual(q.shape, [64, 64]);
  assert.deepEqual(file.entry("model.embed_tokens.weight").shape, [512, 64]);
  assert.ok(!file.entries.has("lm_head.weight"), "tied embeddings carry no lm_head");
  const norm = file.readFloat32("model.norm.weight");
  assert.equal(norm.length, 64);
  assert.ok(norm.every(Number.isFinite));
});

test("re-encoding the real checkpoint reproduces its bytes exactly", () => {
  const file = SafetensorsFile.open(HF_MODEL);
  const tensors = new Map<string, SafetensorsTensor>(file.names().map((n) => [n, file.readTensor(n)]));
  const encoded = Buffer.concat(encodeSafetensors(tensors, file.metadata));
  assert.ok(encoded.equals(readFileSync(HF_MODEL)));
});

test("half and bfloat16 decode exactly", () => {
  assert.equal(float16Value(0x3c00), 1);
  assert.equal(float16Value(0xc000), -2);
  assert.equal(float16Value(0x0001), 2 ** -24);
  assert.equal(float16Value(0x7c00), Infinity);
  const bf16 = new Uint8Array([0x80, 0x3f, 0x40, 0xc0]); // 1.0, -3.0 (little-endian bf16)
  assert.deepEqual([...toFloat32(bf16, "BF16", "t")], [1, -3]);
});

test("a truncated file and a missing tensor give errors naming the file and the problem", () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-st-"));
  try {
    const good = join(dir, "good.safetensors");
    writeSafetensors(good, { w: { dtype: "F32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } });
    const bytes = readFileSync(good);
    const truncated = join(dir, "truncated.safetensors");
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 3));
    assert.throws(() => SafetensorsFile.open(truncated), (e: Error) => e instanceof FileFormatError && /truncated/.test(e.message) && e.message.includes("truncated.safetensors"));
    assert.throws(() => SafetensorsFile.open(join(dir, "absent.safetensors")), /expected a readable file, got ENOENT/);
    assert.throws(() => SafetensorsFile.open(good).entry("v"), /expected a tensor named "v", got none \(the file has 1 tensors: w\)/);
    writeFileSync(join(dir, "tiny"), "abc");
    assert.throws(() => SafetensorsFile.open(join(dir, "tiny")), /at least 8 bytes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a bad tensor never replaces a good file, and no temporary file is left", () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-st-"));
  try {
    const path = join(dir, "model.safetensors");
    writeSafetensors(path, { w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
    const before = readFileSync(path);
    assert.throws(() => writeSafetensors(path, { w: { dtype: "F32", shape: [3], data: new Float32Array([1, 2]) } }), (e: Error) => e instanceof InvalidArgumentError && /expected 12 bytes for "w"/.test(e.message));
    assert.ok(readFileSync(path).equals(before));
    assert.deepEqual(readdirSync(dir), ["model.safetensors"]);
    assert.ok(existsSync(path));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A safetensors file with the header exactly as given (offsets unchecked) and `dataBytes` zero bytes of data. */
function rawFile(dir: string, name: string, header: Record<string, unknown>, dataBytes: number): string {
  const text = Buffer.from(JSON.stringify(header), "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(text.byteLength));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([prefix, text, Buffer.alloc(dataBytes)]));
  return path;
}

test("overlapping, gapped and wrong-length data offsets are refused, naming the tensor", () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-st-"));
  try {
    const f32 = (shape: number[], offsets: [number, number]) => ({ dtype: "F32", shape, data_offsets: offsets });
    const refused = (path: string, message: RegExp) =>
      assert.throws(() => SafetensorsFile.open(path), (e: Error) => e instanceof FileFormatError && e.message.startsWith(path) && message.test(e.message) && !e.message.includes("\n"));

    // "b" points at the bytes of "a": both 16-byte tensors read the same data.
    const aliased = rawFile(dir, "aliased.safetensors", { a: f32([4], [0, 16]), b: f32([4], [0, 16]) }, 16);
    refused(aliased, /expected tensor "b" to begin at byte 16 \(right after "a" ends\), got begin offset 0, inside "a" \[0, 16\)/);
    // Partial overlap: "b" starts in the middle of "a".
    const overlapping = rawFile(dir, "overlapping.safetensors", { a: f32([4], [0, 16]), b: f32([4], [8, 24]) }, 24);
    refused(overlapping, /tensor "b" to begin at byte 16 .*got begin offset 8, inside "a"/);
    // A gap of 4 unused bytes between "a" and "b".
    const gapped = rawFile(dir, "gapped.safetensors", { a: f32([4], [0, 16]), b: f32([4], [20, 36]) }, 36);
    refused(gapped, /tensor "b" to begin at byte 16 .*got begin offset 20, leaving 4 unused bytes before it/);
    // The first tensor does not start at 0.
    const late = rawFile(dir, "late.safetensors", { a: f32([4], [8, 24]) }, 24);
    refused(late, /tensor "a" to begin at byte 0 \(at the start of the data section\), got begin offset 8/);
    // Bytes after the last tensor.
    const trailing = rawFile(dir, "trailing.safetensors", { a: f32([4], [0, 16]) }, 20);
    refused(trailing, /expected the tensors to fill the 20 data bytes exactly, got 4 bytes left over \(the last tensor "a" ends at byte 16\)/);
    // A range whose length is not dtype size x elements (12 bytes for 4 floats).
    const short = rawFile(dir, "short.safetensors", { a: f32([4], [0, 12]) }, 12);
    refused(short, /expected 16 bytes for "a" \(F32 \[4\]\), got 12 bytes \(data_offsets \[0, 12\]\)/);
    const long = rawFile(dir, "long.safetensors", { a: f32([2, 2], [0, 20]) }, 20);
    refused(long, /expected 16 bytes for "a" \(F32 \[2, 2\]\), got 20 bytes/);

    // Exact tiling passes, in any header order, with a zero-size tensor between.
    const good = rawFile(dir, "good.safetensors", { b: f32([2], [16, 24]), empty: f32([0], [16, 16]), a: f32([4], [0, 16]) }, 24);
    assert.deepEqual(SafetensorsFile.open(good).names().sort(), ["a", "b", "empty"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
