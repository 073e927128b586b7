import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveBackend } from "../../../lib/backend.js";
import { FileFormatError, TensorError } from "../../../lib/errors.js";
import { pokeFloat32 } from "../model/helpers.js";
import { SafetensorsFile, writeSafetensors } from "../../../lib/io/safetensors.js";
import { loadModel } from "../../../lib/model/index.js";
import { toLoraModel } from "../../../lib/lora/lora_model.js";
import type { LoraConfig } from "../../../lib/lora/config.js";
import { toQloraModel } from "../../../lib/lora/qlora.js";
import { loadAdapter, readAdapterConfig, saveAdapter } from "../../../lib/lora/adapter_io.js";
import { jupyterPython, skipUnlessPythonModules } from "../../helpers/jupyter.js";
import { logitsOn } from "./helpers.js";

const HF_MODEL = new URL("../../../../shared/models/stories260K-hf", import.meta.url).pathname;
const IDS = [[1, 403, 407, 261, 378, 430, 267, 310, 285, 261, 400]];
const CONFIG: Partial<LoraConfig> = { r: 4, lora_alpha: 8, target_modules: ["q_proj", "v_proj", "down_proj"], init_lora_weights: false };

before(async () => {
  await resolveBackend();
});

function logits(model: { forward(ids: tf.Tensor2D): tf.Tensor3D }): Float32Array {
  return logitsOn(model, IDS);
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "qlora-lab-adapter-"));
}

/** Saves a seeded adapter with non-zero B; returns its folder and the adapted logits. */
async function savedAdapter(dir: string): Promise<Float32Array> {
  const model = await loadModel(HF_MODEL);
  const lora = toLoraModel(model, CONFIG, { seed: 5 });
  const adapted = logits(lora);
  saveAdapter(lora, dir, { baseModelNameOrPath: "stories260K-hf" });
  lora.dispose();
  return adapted;
}

test("save writes PEFT's files: names, shapes, F32, format pt, config keys; loading gives identical logits", async () => {
  const dir = tempDir();
  try {
    const adapted = await savedAdapter(dir);
    assert.deepEqual(readdirSync(dir).sort(), ["adapter_config.json", "adapter_model.safetensors"], "no temporary files left");
    const file = SafetensorsFile.open(join(dir, "adapter_model.safetensors"));
    assert.deepEqual(file.metadata, { format: "pt" });
    assert.equal(file.entries.size, 30);
    const a = file.entry("base_model.model.model.layers.2.self_attn.v_proj.lora_A.weight");
    const b = file.entry("base_model.model.model.layers.2.self_attn.v_proj.lora_B.weight");
    assert.equal(a.dtype, "F32");
    assert.deepEqual(a.shape, [4, 64]);
    assert.deepEqual(b.shape, [32, 4]);
    assert.deepEqual(file.entry("base_model.model.model.layers.4.mlp.down_proj.lora_A.weight").shape, [4, 172]);
    const config = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
    assert.equal(config.peft_type, "LORA");
    assert.equal(config.task_type, "CAUSAL_LM");
    assert.equal(config.base_model_name_or_path, "stories260K-hf");
    assert.deepEqual(config.target_modules, ["down_proj", "q_proj", "v_proj"]);
    assert.equal(config.r, 4);
    assert.equal(config.lora_alpha, 8);
    assert.equal(config.fan_in_fan_out, false);
    assert.equal(config.inference_mode, true);
    assert.equal(config.modules_to_save, null);
    assert.equal(config.bias, "none");
    assert.equal(config.use_rslora, false);
    assert.equal(config.use_dora, false);
    assert.deepEqual(Object.keys(config), Object.keys(config).sort(), "keys sorted as PEFT's json.dumps(sort_keys=True)");
    const fresh = await loadModel(HF_MODEL);
    const loaded = loadAdapter(fresh, dir);
    assert.deepEqual(logits(loaded), adapted, "bit-identical logits after the round trip");
    assert.deepEqual(loaded.trainableVariables(), [], "loaded adapters are frozen by default (PEFT's is_trainable=False)");
    loaded.setAdapterTrainable("default", true);
    assert.equal(loaded.trainableVariables().length, 30);
    // A second adapter on the same model, under another name.
    loadAdapter(loaded, dir, { adapterName: "again" });
    assert.equal(loaded.activeAdapter, "again");
    assert.deepEqual(logits(loaded), adapted);
    loaded.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("loads configs as PEFT writes them: suffixes (<= 0.14), full module paths (>= 0.15), a regex; unknown keys ignored, missing keys defaulted", async () => {
  const dir = tempDir();
  try {
    const adapted = await savedAdapter(dir);
    const full = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
    const paths = [0, 1, 2, 3, 4].flatMap((l) => ["self_attn.q_proj", "self_attn.v_proj", "mlp.down_proj"].map((m) => `model.layers.${l}.${m}`));
    const variants: Record<string, unknown>[] = [
      { ...full, target_modules: paths, peft_version: "0.17.1", some_future_key: { x: 1 }, use_qalora: false },
      { ...full, target_modules: "model\\.layers\\.\\d+\\.(self_attn\\.(q|v)_proj|mlp\\.down_proj)" },
      { peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: ["q_proj", "v_proj", "down_proj"] },
    ];
    for (const variant of variants) {
      writeFileSync(join(dir, "adapter_config.json"), JSON.stringify(variant));
      const model = await loadModel(HF_MODEL);
      const lora = loadAdapter(model, dir);
      assert.deepEqual(logits(lora), adapted, JSON.stringify(variant.target_modules));
      lora.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("rank_pattern, alpha_pattern, rsLoRA and layers_to_transform survive the round trip", async () => {
  const dir = tempDir();
  try {
    const config: Partial<LoraConfig> = { r: 4, lora_alpha: 8, use_rslora: true, target_modules: ["q_proj", "down_proj"], layers_to_transform: [1, 3], rank_pattern: { down_proj: 2 }, alpha_pattern: { "layers\\.3\\.self_attn\\.q_proj": 32 }, init_lora_weights: false };
    const lora = toLoraModel(await loadModel(HF_MODEL), config, { seed: 8 });
    assert.deepEqual(lora.adaptedModules(), ["model.layers.1.self_attn.q_proj", "model.layers.1.mlp.down_proj", "model.layers.3.self_attn.q_proj", "model.layers.3.mlp.down_proj"]);
    const layers = lora.loraLayers();
    assert.equal(layers.get("model.layers.1.mlp.down_proj")!.adapters.get("default")!.r, 2);
    assert.equal(layers.get("model.layers.1.self_attn.q_proj")!.adapters.get("default")!.scaling, 8 / 2, "rsLoRA: alpha / sqrt(r)");
    assert.equal(layers.get("model.layers.3.self_attn.q_proj")!.adapters.get("default")!.scaling, 32 / 2);
    const adapted = logits(lora);
    saveAdapter(lora, dir);
    lora.dispose();
    assert.deepEqual(SafetensorsFile.open(join(dir, "adapter_model.safetensors")).entry("base_model.model.model.layers.3.mlp.down_proj.lora_A.weight").shape, [2, 172]);
    const loaded = loadAdapter(await loadModel(HF_MODEL), dir);
    assert.deepEqual(logits(loaded), adapted);
    loaded.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad adapter folders give clear errors and leave the model unchanged", async () => {
  const dir = tempDir();
  try {
    const good = join(dir, "good");
    await savedAdapter(good);
    const model = await loadModel(HF_MODEL);
    const base = logits(model);
    const variant = (name: string, edit: (d: string) => void): string => {
      const d = join(dir, name);
      mkdirSync(d);
      for (const f of readdirSync(good)) copyFileSync(join(good, f), join(d, f));
      edit(d);
      return d;
    };
    const fails = (d: string, message: RegExp) => assert.throws(() => loadAdapter(model, d), (e: Error) => e instanceof FileFormatError && message.test(e.message), d);
    fails(join(dir, "absent"), /absent: expected an adapter folder, got ENOENT/);
    assert.throws(() => loadAdapter(model, undefined as unknown as string), /adapter folder: expected a folder path \(string\), got undefined/);
    fails(join(good, "adapter_config.json"), /expected an adapter folder, got a file\. Pass the folder/);
    fails(variant("no-config", (d) => rmSync(join(d, "adapter_config.json"))), /adapter_config\.json: expected adapter_config\.json in the adapter folder, got no such file/);
    fails(variant("no-weights", (d) => rmSync(join(d, "adapter_model.safetensors"))), /adapter_model\.safetensors: expected adapter_model\.safetensors in the adapter folder, got no such file/);
    fails(
      variant("bin", (d) => {
        rmSync(join(d, "adapter_model.safetensors"));
        writeFileSync(join(d, "adapter_model.bin"), "pickle");
      }),
      /the folder has adapter_model\.bin \(a PyTorch pickle\)/,
    );
    fails(variant("bad-json", (d) => writeFileSync(join(d, "adapter_config.json"), "{ r: 4")), /expected valid JSON/);
    fails(variant("rank", (d) => rewriteConfig(d, { r: 8 })), /expected rank r = 8 for module "model\.layers\.0\.self_attn\.q_proj" \(from adapter_config\.json\), got lora_A \[4, 64\] and lora_B \[64, 4\]\. Rank mismatch/);
    fails(
      variant("shape", (d) => rewriteTensor(d, "base_model.model.model.layers.3.mlp.down_proj.lora_A.weight", [4, 64])),
      /expected lora_A \[r, 172\] and lora_B \[64, r\] for module "model\.layers\.3\.mlp\.down_proj" \(its linear is \[out 64, in 172\]\), got lora_A \[4, 64\] and lora_B \[64, 4\]\. Shape mismatch/,
    );
    fails(variant("fewer-targets", (d) => rewriteConfig(d, { target_modules: ["q_proj", "v_proj", "down_proj", "up_proj"] })), /expected lora_A and lora_B for module "model\.layers\.0\.mlp\.up_proj" \(adapter_config\.json targets it\), got none/);
    fails(variant("extra-tensors", (d) => rewriteConfig(d, { target_modules: ["q_proj", "v_proj"] })), /expected only modules adapter_config\.json targets .*got tensors for "model\.layers\.0\.mlp\.down_proj"/);
    fails(variant("other-arch", (d) => renameTensors(d, (n) => n.replace("model.layers.0.self_attn.q_proj", "transformer.h.0.attn.c_attn"))), /expected module "transformer\.h\.0\.attn\.c_attn" to exist in the model, got no such linear/);
    fails(variant("dora", (d) => rewriteConfig(d, { use_dora: true })), /expected use_dora to be false, got true\. DoRA is not implemented/);
    fails(variant("bias", (d) => rewriteConfig(d, { bias: "lora_only" })), /expected bias to be "none", got "lora_only"/);
    assert.deepEqual(logits(model), base, "the model is untouched by failed loads");
    assert.ok(![...model.linears().values()].some((l) => l.constructor.name === "LoraLinear"));
    model.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an adapter trained on a QLoRA model round-trips onto a fresh QLoRA model with identical logits", async () => {
  const dir = tempDir();
  try {
    const model = await loadModel(HF_MODEL);
    const lora = toQloraModel(model, { ...CONFIG, target_modules: "all-linear" }, { quantType: "nf4", doubleQuant: true }, { seed: 9 });
    const adapted = logits(lora);
    saveAdapter(lora, dir);
    const config = readAdapterConfig(dir);
    assert.deepEqual(config.target_modules, ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"], "all-linear is written resolved to module names");
    lora.dispose();
    const fresh = toQloraModel(await loadModel(HF_MODEL), { r: 1, target_modules: ["q_proj"] }, { quantType: "nf4", doubleQuant: true });
    loadAdapter(fresh, dir, { adapterName: "trained" });
    assert.deepEqual(logits(fresh), adapted);
    fresh.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("PyTorch reads the saved adapter: base + B @ A * scaling in torch equals our layer outputs", async (t) => {
  const skip = skipUnlessPythonModules("torch");
  if (skip) return t.skip(skip);
  const dir = tempDir();
  try {
    const model = await loadModel(HF_MODEL);
    const lora = toLoraModel(model, { r: 4, lora_alpha: 12, target_modules: ["v_proj", "down_proj"], init_lora_weights: false }, { seed: 21 });
    saveAdapter(lora, dir);
    // Inputs and our outputs for every adapted layer, in a plain safetensors file torch can read.
    const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    for (const [path, layer] of lora.loraLayers()) {
      const x = tf.randomNormal([3, layer.inFeatures], 0, 1, "float32", 7) as tf.Tensor2D;
      const y = layer.apply(x);
      tensors[`${path}.x`] = { dtype: "F32", shape: x.shape, data: x.dataSync() as Float32Array };
      tensors[`${path}.y`] = { dtype: "F32", shape: y.shape, data: y.dataSync() as Float32Array };
      tf.dispose([x, y]);
    }
    writeSafetensors(join(dir, "io.safetensors"), tensors);
    const script = `
import json, struct, sys, torch
def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", e
        b, end = e["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[b:end]), dtype=torch.float32).reshape(e["shape"])
    return out, meta
adapter, meta = read(sys.argv[1] + "/adapter_model.safetensors")
assert meta == {"format": "pt"}, meta
cfg = json.load(open(sys.argv[1] + "/adapter_config.json"))
scaling = cfg["lora_alpha"] / cfg["r"]
base, _ = read(sys.argv[2])
io, _ = read(sys.argv[1] + "/io.safetensors")
worst, count = 0.0, 0
for key in adapter:
    if not key.endswith(".lora_A.weight"):
        continue
    module = key[len("base_model.model."):-len(".lora_A.weight")]
    A = adapter[key]
    B = adapter[key.replace("lora_A", "lora_B")]
    W = base[module + ".weight"]
    lin = torch.nn.Linear(W.shape[1], W.shape[0], bias=False)
    lin.weight.data = W + (B @ A) * scaling
    x, y = io[module + ".x"], io[module + ".y"]
    worst = max(worst, (lin(x) - y).abs().max().item())
    count += 1
print(json.dumps({"worst": worst, "modules": count, "r": cfg["r"], "targets": cfg["target_modules"]}))
`;
    const run = spawnSync(jupyterPython, ["-c", script, dir, join(HF_MODEL, "model.safetensors")], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout.trim().split("\n").pop()!);
    assert.equal(result.modules, 10);
    assert.deepEqual(result.targets, ["down_proj", "v_proj"]);
    assert.ok(result.worst < 1e-5, `torch vs qlora-lab max |diff| ${result.worst}`);
    t.diagnostic(`torch vs qlora-lab: max |diff| ${result.worst} over ${result.modules} modules`);
    lora.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function rewriteConfig(dir: string, patch: Record<string, unknown>): void {
  const path = join(dir, "adapter_config.json");
  writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, "utf8")), ...patch }));
}

function rewriteTensor(dir: string, name: string, shape: number[]): void {
  renameTensors(dir, (n) => n, { [name]: shape });
}

function renameTensors(dir: string, rename: (name: string) => string, reshape: Record<string, number[]> = {}): void {
  const path = join(dir, "adapter_model.safetensors");
  const file = SafetensorsFile.open(path);
  const out: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
  for (const name of file.names()) {
    const shape = reshape[name] ?? file.entry(name).shape;
    out[rename(name)] = { dtype: "F32", shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
  }
  writeSafetensors(path, out, file.metadata);
  assert.ok(existsSync(path));
}

test("non-finite adapters are refused naming the tensor or key: NaN weights, lora_alpha 1e308, an overflowing product", async () => {
  const dir = tempDir();
  try {
    await savedAdapter(dir);
    const weightsPath = join(dir, "adapter_model.safetensors");
    const configPath = join(dir, "adapter_config.json");
    const savedWeights = readFileSync(weightsPath);
    const savedConfig = JSON.parse(readFileSync(configPath, "utf8"));
    const model = await loadModel(HF_MODEL);
    const base = logits(model);
    const refuses = (message: RegExp, kind: typeof TensorError | typeof FileFormatError, label: string) =>
      assert.throws(() => loadAdapter(model, dir), (e: Error) => e instanceof kind && message.test(e.message) && !e.message.includes("\n"), label);

    // Every weight NaN (as an adapter saved after training diverged).
    const file = SafetensorsFile.open(weightsPath);
    const nan = new Map([...file.entries.values()].map((e) => [e.name, { dtype: "F32" as const, shape: e.shape, data: new Float32Array(e.shape.reduce((a, b) => a * b, 1)).fill(NaN) }]));
    writeSafetensors(weightsPath, nan, { format: "pt" });
    refuses(new RegExp(`^${weightsPath}: expected finite values in "base_model\\.model\\.model\\.layers\\.0\\.self_attn\\.q_proj\\.lora_A\\.weight", got NaN at element 0 of 256\\.`), TensorError, "all NaN");
    writeFileSync(weightsPath, savedWeights);
    // One Infinity in one lora_B.
    pokeFloat32(weightsPath, "base_model.model.model.layers.3.mlp.down_proj.lora_B.weight", 5, Infinity);
    refuses(/expected finite values in "base_model\.model\.model\.layers\.3\.mlp\.down_proj\.lora_B\.weight", got Infinity at element 5 of 256\./, TensorError, "one Infinity");
    writeFileSync(weightsPath, savedWeights);

    // lora_alpha 1e308: the scaling alpha / r is beyond float32.
    writeFileSync(configPath, JSON.stringify({ ...savedConfig, lora_alpha: 1e308 }));
    refuses(/adapter_config\.json: expected lora_alpha within float32's range \(\|alpha\| <= 3\.4028e\+38\), got 1e\+308\./, FileFormatError, "lora_alpha 1e308");
    writeFileSync(configPath, JSON.stringify({ ...savedConfig, alpha_pattern: { q_proj: -1e39 } }));
    refuses(/expected alpha_pattern\["q_proj"\] within float32's range .*got -1e\+39\./, FileFormatError, "alpha_pattern");
    // lora_alpha 3e38 fits float32, but with weights of 1000 B @ A * scaling would not.
    writeFileSync(configPath, JSON.stringify({ ...savedConfig, lora_alpha: 3e38 }));
    pokeFloat32(weightsPath, "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight", 0, 1000);
    pokeFloat32(weightsPath, "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight", 0, -1000);
    refuses(/expected lora_B @ lora_A \* scaling within float32 for module "model\.layers\.1\.self_attn\.v_proj", got entries up to 3\.000e\+44 \(r 4 x max \|lora_A\| 1\.000e\+3 x max \|lora_B\| 1\.000e\+3 x scaling 7\.500e\+37\)/, TensorError, "overflowing product");
    // With its own small weights the delta fits, but activations times 7.5e37 overflow: generate refuses.
    writeFileSync(weightsPath, savedWeights);
    const overflowing = loadAdapter(model, dir, { adapterName: "overflowing" });
    await assert.rejects(overflowing.model.generate([1, 403, 407], { maxNewTokens: 2 }), (e: Error) => e instanceof TensorError && /^generate: expected finite logits at step \d+, got (NaN|-?Infinity)/.test(e.message));
    overflowing.unload();

    // None of the refusals touched the model.
    assert.deepEqual(logits(model), base);
    writeFileSync(configPath, JSON.stringify(savedConfig));
    loadAdapter(model, dir).dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
