import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SafetensorsFile, encodeSafetensors, writeSafetensors, halfToFloat, toFloat32, type SafetensorsTensor } from "../../../lib/io/safetensors.js";
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
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  assert.equal(halfToFloat(0x7c00), Infinity);
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
