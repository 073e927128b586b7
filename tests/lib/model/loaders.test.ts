// Loading, saving and refusing bad checkpoints: sharded and half-precision HF folders, atomic saves,
// and clear errors for missing, truncated and mismatched files.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { SafetensorsFile, writeSafetensors, float32Bytes, type SafetensorsTensor } from "../../../lib/io/safetensors.js";
import { FileFormatError, TensorError } from "../../../lib/errors.js";
import { configFromHf, loadModel, readHfFolder, readLlama2c, saveModel } from "../../../lib/model/index.js";
import { HF_MODEL, LLAMA2C_MODEL, assertClose } from "./helpers.js";

const tmp = () => mkdtempSync(join(tmpdir(), "qlora-lab-model-"));
const probe = () => tf.tensor2d([[1, 403, 407, 261, 378]], [1, 5], "int32");
const config = () => JSON.parse(readFileSync(join(HF_MODEL, "config.json"), "utf8")) as Record<string, unknown>;

async function logitsOf(path: string): Promise<Float32Array> {
  const model = await loadModel(path);
  const input = probe();
  const out = model.forward(input);
  const values = out.dataSync() as Float32Array;
  tf.dispose([input, out]);
  model.dispose();
  return values;
}

before(async () => {
  await resolveBackend();
});

test("llama2.c q/k rows permuted to rotate-half equal the published HF conversion exactly", () => {
  const a = readLlama2c(LLAMA2C_MODEL).weights;
  const b = readHfFolder(HF_MODEL).weights;
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [name, values] of b) assert.deepEqual(a.get(name), values, name);
});

test("saveModel writes an HF folder that loads back to the same logits (from a llama2.c source)", async () => {
  const dir = tmp();
  const model = await loadModel(LLAMA2C_MODEL);
  await saveModel(model, join(dir, "out"));
  model.dispose();
  assert.deepEqual(readdirSync(join(dir, "out")).sort(), ["config.json", "model.safetensors"]);
  assert.equal(configFromHf(JSON.parse(readFileSync(join(dir, "out", "config.json"), "utf8"))).numKvHeads, 4);
  assertClose(await logitsOf(join(dir, "out")), await logitsOf(HF_MODEL), 0, "round-tripped logits");
});

test("a sharded checkpoint (model.safetensors.index.json) loads the same model", async () => {
  const dir = tmp();
  const file = SafetensorsFile.open(join(HF_MODEL, "model.safetensors"));
  const names = file.names();
  const shards = [names.slice(0, 20), names.slice(20)];
  const weightMap: Record<string, string> = {};
  shards.forEach((group, i) => {
    const shard = `model-0000${i + 1}-of-00002.safetensors`;
    writeSafetensors(join(dir, shard), new Map(group.map((n) => [n, file.readTensor(n)])));
    for (const n of group) weightMap[n] = shard;
  });
  writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  copyFileSync(join(HF_MODEL, "config.json"), join(dir, "config.json"));
  assertClose(await logitsOf(dir), await logitsOf(HF_MODEL), 0, "sharded logits");
});

test("bf16 and f16 checkpoints become float32 (logits close to the f32 model)", async () => {
  const file = SafetensorsFile.open(join(HF_MODEL, "model.safetensors"));
  const reference = await logitsOf(HF_MODEL);
  for (const dtype of ["BF16", "F16"] as const) {
    const dir = tmp();
    const tensors = new Map<string, SafetensorsTensor>();
    for (const name of file.names()) {
      const values = file.readFloat32(name);
      const bits = new Uint16Array(values.length);
      const f32 = new Uint32Array(Float32Array.from(values).buffer);
      for (let i = 0; i < values.length; i++) bits[i] = dtype === "BF16" ? f32[i]! >>> 16 : toHalfBits(values[i]!);
      tensors.set(name, { dtype, shape: file.entry(name).shape, data: new Uint8Array(bits.buffer) });
    }
    writeSafetensors(join(dir, "model.safetensors"), tensors);
    copyFileSync(join(HF_MODEL, "config.json"), join(dir, "config.json"));
    const logits = await logitsOf(dir);
    const worst = logits.reduce((m, v, i) => Math.max(m, Math.abs(v - reference[i]!)), 0);
    assert.ok(worst > 0 && worst < (dtype === "BF16" ? 0.5 : 0.05), `${dtype}: max |diff| ${worst}`);
  }
});

test("missing paths, folders without weights and truncated files give FileFormatErrors naming the problem", async () => {
  await assert.rejects(loadModel("/nonexistent/model"), (e: Error) => e instanceof FileFormatError && /nothing at that path/.test(e.message));
  const empty = tmp();
  await assert.rejects(loadModel(empty), (e: Error) => e instanceof FileFormatError && /config\.json/.test(e.message));
  copyFileSync(join(HF_MODEL, "config.json"), join(empty, "config.json"));
  await assert.rejects(loadModel(empty), (e: Error) => e instanceof FileFormatError && /model\.safetensors/.test(e.message));
  const truncated = join(tmp(), "stories.bin");
  writeFileSync(truncated, readFileSync(LLAMA2C_MODEL).subarray(0, 500_000));
  await assert.rejects(loadModel(truncated), (e: Error) => e instanceof FileFormatError && /truncated/.test(e.message) && /1056540|\d{7} bytes/.test(e.message));
  const tiny = join(tmp(), "x.bin");
  writeFileSync(tiny, Buffer.from([1, 2, 3]));
  await assert.rejects(loadModel(tiny), FileFormatError);
  const garbage = join(tmp(), "garbage.bin");
  writeFileSync(garbage, Buffer.alloc(4096, 0x7f));
  await assert.rejects(loadModel(garbage), (e: Error) => e instanceof FileFormatError && /llama2\.c/.test(e.message));
});

test("unsupported config fields are named; supported defaults pass", () => {
  assert.throws(() => configFromHf({ ...config(), rope_scaling: { type: "linear", factor: 2 }, attention_bias: true }), (e: Error) => e instanceof FileFormatError && /rope_scaling/.test(e.message) && /attention_bias/.test(e.message));
  assert.throws(() => configFromHf({ ...config(), model_type: "mistral", sliding_window: 4096 }), (e: Error) => /model_type="mistral"/.test(e.message) && /sliding_window/.test(e.message));
  assert.throws(() => configFromHf({ ...config(), hidden_size: undefined }), (e: Error) => /missing hidden_size/.test(e.message));
  assert.throws(() => configFromHf({ ...config(), num_key_value_heads: 3 }), (e: Error) => e instanceof FileFormatError && /numKvHeads/.test(e.message));
  const ok = configFromHf({ ...config(), rope_scaling: null, attention_bias: false, mlp_bias: false, head_dim: 8, pad_token_id: 0, transformers_version: "4.40.0" });
  assert.equal(ok.hiddenSize, 64);
});

test("a tensor whose shape does not match config.json names the tensor and both shapes", async () => {
  const dir = tmp();
  const file = SafetensorsFile.open(join(HF_MODEL, "model.safetensors"));
  const tensors = new Map(file.names().map((n) => [n, file.readTensor(n)]));
  tensors.set("model.layers.2.mlp.up_proj.weight", { dtype: "F32", shape: [172, 32], data: float32Bytes(new Float32Array(172 * 32)) });
  writeSafetensors(join(dir, "model.safetensors"), tensors);
  copyFileSync(join(HF_MODEL, "config.json"), join(dir, "config.json"));
  await assert.rejects(loadModel(dir), (e: Error) => e instanceof TensorError && /model\.layers\.2\.mlp\.up_proj\.weight/.test(e.message) && /\[172, 64\]/.test(e.message) && /\[172, 32\]/.test(e.message));
  tensors.delete("model.layers.2.mlp.up_proj.weight");
  writeSafetensors(join(dir, "model.safetensors"), tensors);
  await assert.rejects(loadModel(dir), (e: Error) => e instanceof FileFormatError && /up_proj/.test(e.message));
});

test("saveModel is atomic: a failed save leaves the previous folder intact", async () => {
  const dir = tmp();
  const model = await loadModel(HF_MODEL);
  await saveModel(model, dir);
  const before = readFileSync(join(dir, "model.safetensors"));
  model.dispose();
  await assert.rejects(saveModel(model, dir)); // disposed tensors cannot be read
  assert.ok(readFileSync(join(dir, "model.safetensors")).equals(before));
  assert.ok(!readdirSync(dir).some((n) => n.endsWith(".tmp")));
  assert.ok(existsSync(join(dir, "config.json")));
});

function toHalfBits(value: number): number {
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = ((x >>> 23) & 0xff) - 127 + 15;
  const mantissa = x & 0x7fffff;
  if (exponent <= 0) return sign; // flush tiny values to zero (fine for a test)
  if (exponent >= 31) return sign | 0x7c00;
  return sign + (exponent << 10) + Math.round(mantissa / 8192); // a rounding carry moves into the exponent
}
