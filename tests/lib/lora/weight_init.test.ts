// PiSSA and LoftQ initialisation (init_lora_weights "pissa", "pissa_niter_N", "loftq"): the SVDs and
// factors against PyTorch computing PEFT's formulas, the models they build, and their files.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { shippedModelPath } from "../../../lib/data/shipped.js";
import { loadModel } from "../../../lib/model/index.js";
import { HalfLinear } from "../../../lib/model/half_linear.js";
import { DenseLinear } from "../../../lib/model/linear.js";
import { QuantizedLinear } from "../../../lib/model/quantized_linear.js";
import { quantize4bit, seededNormal } from "../../../lib/quant/index.js";
import { validateLoraConfig } from "../../../lib/lora/config.js";
import { loftqFactors } from "../../../lib/lora/loftq.js";
import { pissaFactors } from "../../../lib/lora/pissa.js";
import { matmul, matrixFrom, randomizedSvd, svd, transpose } from "../../../lib/lora/svd.js";
import { loadAdapter, readAdapterConfig, saveAdapter } from "../../../lib/lora/adapter_io.js";
import { saveBaseModel } from "../../../lib/lora/save_base.js";
import { toLoraModel } from "../../../lib/lora/lora_model.js";
import { toLora16Model } from "../../../lib/lora/lora16.js";
import { toQloraModel } from "../../../lib/lora/qlora.js";
import { LoraLinear } from "../../../lib/lora/lora_linear.js";
import { validateRecipe } from "../../../lib/recipe/recipe_schema.js";
import { trainFromRecipe } from "../../../lib/recipe/recipe_run.js";
import { jupyterPython, skipUnlessPythonModules } from "../../helpers/jupyter.js";
import { logitsOn, maxAbsDiff } from "./helpers.js";

const IDS = [[1, 403, 407, 261, 378, 430, 267, 310, 285, 261, 400].map((id) => id % 900)];
const torchSkip = skipUnlessPythonModules("torch");

before(async () => {
  await resolveBackend();
});

/** A [rows, cols] matrix with singular values decaying as 1 / (1 + k): a weight-like spectrum. */
function decayingMatrix(rows: number, cols: number, seed: number): Float32Array {
  const left = seededNormal(rows * cols, seed);
  const right = seededNormal(cols * cols, seed + 1);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
    let sum = 0;
    for (let k = 0; k < cols; k++) sum += (left[i * cols + k]! * right[k * cols + j]!) / (1 + k);
    out[i * cols + j] = sum / Math.sqrt(rows * cols);
  }
  return out;
}

function frobenius(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! * values[i]!;
  return Math.sqrt(sum);
}

function difference(x: ArrayLike<number>, y: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: x.length }, (_, i) => x[i]! - y[i]!);
}

function product(b: Float32Array, a: Float32Array, out: number, inF: number, r: number): Float64Array {
  return matmul(matrixFrom(b, out, r), matrixFrom(a, r, inF)).data;
}

function torchReference(request: object): Record<string, number[]> {
  const run = spawnSync(jupyterPython, [new URL("./weight_init_reference.py", import.meta.url).pathname], { input: JSON.stringify(request), encoding: "utf8", maxBuffer: 1 << 26, timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

test("svd: U S Vh rebuilds the matrix, U and V are orthonormal, both orientations", () => {
  for (const [rows, cols] of [[30, 12], [12, 30]] as const) {
    const m = matrixFrom(seededNormal(rows * cols, 3), rows, cols);
    const { u, s, vh } = svd(m);
    const k = Math.min(rows, cols);
    const us = { rows, cols: k, data: Float64Array.from(u.data, (x, i) => x * s[i % k]!) };
    assert.ok(maxAbsDiff(Float32Array.from(matmul(us, vh).data), Float32Array.from(m.data)) < 1e-12 * 1e3);
    const utu = matmul(transpose(u), u).data;
    const vvt = matmul(vh, transpose(vh)).data;
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
      assert.ok(Math.abs(utu[i * k + j]! - (i === j ? 1 : 0)) < 1e-12);
      assert.ok(Math.abs(vvt[i * k + j]! - (i === j ? 1 : 0)) < 1e-12);
    }
    for (let i = 1; i < k; i++) assert.ok(s[i - 1]! >= s[i]!, "descending");
  }
});

test("randomizedSvd: the top singular values approach the exact ones as power iterations grow", () => {
  const w = matrixFrom(decayingMatrix(64, 48, 5), 64, 48);
  const exact = svd(w).s.slice(0, 8);
  const errorAt = (niter: number) => Math.max(...Array.from(randomizedSvd(w, 8, niter, 1).s, (x, i) => Math.abs(x - exact[i]!) / exact[i]!));
  const e0 = errorAt(0);
  const e4 = errorAt(4);
  assert.ok(e4 < e0, `niter 4 (${e4}) closer than niter 0 (${e0})`);
  assert.ok(errorAt(16) < 0.05, `niter 16 within 5 % (${errorAt(16)})`);
});

test("PiSSA factors, singular values and residual match PyTorch's torch.linalg.svd with PEFT's formula", { skip: torchSkip, timeout: 60_000 }, () => {
  const [out, inF, r, scaling] = [48, 40, 6, 16 / 6];
  const weight = decayingMatrix(out, inF, 7);
  const ours = pissaFactors(weight, out, inF, r, scaling, null);
  const ref = torchReference({ weight: Array.from(weight), out, in: inF, r, scaling });
  const exact = svd(matrixFrom(weight, out, inF)).s;
  assert.ok(maxAbsDiff(Float32Array.from(exact), Float32Array.from(ref.s!)) < 1e-5, "singular values");
  assert.ok(maxAbsDiff(ours.residual, Float32Array.from(ref.residual!)) < 1e-5, "residual W - scaling B A");
  // A's rows and B's columns are the singular vectors' and are fixed up to one sign per pair.
  for (let k = 0; k < r; k++) {
    const rowOurs = ours.a.subarray(k * inF, (k + 1) * inF);
    const rowRef = ref.a!.slice(k * inF, (k + 1) * inF);
    const sign = Math.sign(rowOurs[0]! * rowRef[0]!);
    assert.ok(maxAbsDiff(rowOurs, Float32Array.from(rowRef, (x) => sign * x)) < 1e-4, `A row ${k}`);
    const colOurs = Float32Array.from({ length: out }, (_, i) => ours.b[i * r + k]!);
    const colRef = Float32Array.from({ length: out }, (_, i) => sign * ref.b![i * r + k]!);
    assert.ok(maxAbsDiff(colOurs, colRef) < 1e-4, `B column ${k}`);
  }
});

test("pissa_niter_N: residual + scaling B A is W to float32 rounding, and near the exact PiSSA", () => {
  const [out, inF, r, scaling] = [48, 40, 6, 2];
  const weight = decayingMatrix(out, inF, 9);
  const fast = pissaFactors(weight, out, inF, r, scaling, 8, 3);
  const rebuilt = Float32Array.from(product(fast.b, fast.a, out, inF, r), (x, i) => fast.residual[i]! + scaling * x);
  assert.ok(maxAbsDiff(rebuilt, weight) < 1e-6);
  const exact = pissaFactors(weight, out, inF, r, scaling, null);
  assert.ok(frobenius(fast.residual) < 1.05 * frobenius(exact.residual), "randomized residual within 5 % of the exact one's norm");
});

test("LoftQ: B A is PyTorch's rank-r SVD of W - Q for one round, and more rounds lower ||W - Q - B A||", { skip: torchSkip, timeout: 60_000 }, () => {
  const [out, inF, r] = [64, 64, 8];
  const weight = seededNormal(out * inF, 11, { std: 0.05 });
  const quantize = (values: Float32Array) => quantize4bit(values, [out, inF], { quantType: "nf4", blocksize: 64 });
  const one = loftqFactors(weight, out, inF, r, 1, quantize);
  const deq = one.quantized.dequantizeToArray();
  const ref = torchReference({ weight: Array.from(weight), out, in: inF, r, dequantized: Array.from(deq) });
  assert.ok(maxAbsDiff(Float32Array.from(product(one.b, one.a, out, inF, r)), Float32Array.from(ref.loftq_product!)) < 1e-5);
  const error = (f: typeof one) => frobenius(difference(difference(weight, f.quantized.dequantizeToArray()), product(f.b, f.a, out, inF, r)));
  const plain = frobenius(difference(weight, deq));
  const five = loftqFactors(weight, out, inF, r, 5, quantize);
  assert.ok(error(one) < plain, `one round ${error(one)} < plain quantization ${plain}`);
  assert.ok(error(five) <= error(one) * 1.001, `five rounds ${error(five)} <= one ${error(one)}`);
  one.quantized.dispose();
  five.quantized.dispose();
});

test("toLoraModel with PiSSA: the output is unchanged at the start, the base is the residual", async () => {
  const plain = await loadModel(shippedModelPath());
  const before = logitsOn(plain, IDS);
  const pissa = toLoraModel(await loadModel(shippedModelPath()), { r: 4, lora_alpha: 8, target_modules: "all-linear", init_lora_weights: "pissa" });
  assert.ok(maxAbsDiff(logitsOn(pissa, IDS), before) < 1e-4, "W_res + scaling B A = W");
  assert.equal(pissa.changedBase(), true);
  const layer = pissa.loraLayers().get("model.layers.0.self_attn.q_proj")!;
  assert.ok(layer.base instanceof DenseLinear);
  const disabled = pissa.withAdaptersDisabled(() => logitsOn(pissa, IDS));
  assert.ok(maxAbsDiff(disabled, before) > 1e-3, "without the adapter the residual model differs");
  plain.dispose();
  pissa.dispose();
});

test("toLora16Model with PiSSA keeps the residual in bf16; toQloraModel quantizes it (QPiSSA)", async () => {
  const half = toLora16Model(await loadModel(shippedModelPath()), { r: 4, lora_alpha: 4, target_modules: ["q_proj"], init_lora_weights: "pissa_niter_4" }, "bf16");
  assert.ok(half.loraLayers().get("model.layers.1.self_attn.q_proj")!.base instanceof HalfLinear);
  half.dispose();
  const qlora = toQloraModel(await loadModel(shippedModelPath()), { r: 4, lora_alpha: 4, target_modules: ["q_proj", "v_proj"], init_lora_weights: "pissa" });
  assert.ok(qlora.loraLayers().get("model.layers.1.self_attn.q_proj")!.base instanceof QuantizedLinear);
  assert.ok(qlora.model.linears().get("model.layers.1.mlp.up_proj") instanceof QuantizedLinear, "non-targets are quantized as usual");
  assert.ok(qlora.quantization.modules.includes("model.layers.1.self_attn.q_proj"));
  qlora.dispose();
});

test("toQloraModel with LoftQ: per layer ||W - Q - B A|| is below the default init's ||W - Q||", async () => {
  const original = await loadModel(shippedModelPath());
  const weights = new Map([...original.linears()].map(([path, l]) => [path, l.denseWeight().dataSync() as Float32Array]));
  const plain = toQloraModel(await loadModel(shippedModelPath()), { r: 8, lora_alpha: 8, target_modules: "all-linear" });
  const loftq = toQloraModel(await loadModel(shippedModelPath()), { r: 8, lora_alpha: 8, target_modules: "all-linear", init_lora_weights: "loftq", loftq_config: { loftq_bits: 4, loftq_iter: 2 } });
  const residual = (lora: typeof plain, path: string) => {
    const layer = lora.loraLayers().get(path)!;
    return frobenius(difference(weights.get(path)!, layer.denseWeight().dataSync() as Float32Array));
  };
  for (const path of loftq.adaptedModules()) assert.ok(residual(loftq, path) < residual(plain, path), `${path}: ${residual(loftq, path)} < ${residual(plain, path)}`);
  for (const m of [original, plain, loftq]) m.dispose();
});

test("LoftQ on a dense base leaves the dequantized backbone in float32, as PEFT does", async () => {
  const lora = toLoraModel(await loadModel(shippedModelPath()), { r: 4, lora_alpha: 4, target_modules: ["o_proj"], init_lora_weights: "loftq", loftq_config: { loftq_bits: 4 } });
  const layer = lora.loraLayers().get("model.layers.2.self_attn.o_proj")!;
  assert.ok(layer.base instanceof DenseLinear);
  const backbone = layer.base.denseWeight().dataSync() as Float32Array;
  const requantized = quantize4bit(backbone, [layer.outFeatures, layer.inFeatures], { quantType: "nf4", blocksize: 64 }).dequantizeToArray();
  assert.ok(maxAbsDiff(requantized, backbone) < 1e-7, "the backbone is already on the NF4 grid");
  lora.dispose();
});

test("PiSSA and LoftQ refuse a 4-bit base with a one-line reason", async () => {
  const model = await loadModel(shippedModelPath(), { quantize: { type: "nf4", doubleQuant: true } });
  assert.throws(() => toLoraModel(model, { init_lora_weights: "pissa" }), /expected a full-precision base weight, got a 4-bit base/);
  assert.ok(!(model.linears().get("model.layers.0.self_attn.q_proj") instanceof LoraLinear), "nothing was changed");
  model.dispose();
});

test("config: PEFT's init values and loftq_config rules", () => {
  assert.equal(validateLoraConfig({ init_lora_weights: "pissa_niter_16" }).init_lora_weights, "pissa_niter_16");
  assert.deepEqual(validateLoraConfig({ init_lora_weights: "loftq", loftq_config: { loftq_bits: 4 } }).loftq_config, { loftq_bits: 4, loftq_iter: 1 });
  assert.deepEqual(validateLoraConfig({}).loftq_config, {});
  assert.throws(() => validateLoraConfig({ init_lora_weights: "loftq" }), /expected loftq_config .* with init_lora_weights "loftq", got \{\}/);
  assert.throws(() => validateLoraConfig({ init_lora_weights: "loftq", loftq_config: { loftq_bits: 2 } }), /loftq_bits to be 4/);
  assert.throws(() => validateLoraConfig({ init_lora_weights: "loftq", loftq_config: { loftq_iter: 0 } }), /loftq_iter to be a positive integer/);
  assert.throws(() => validateLoraConfig({ init_lora_weights: "pissa_niter_x" as never }), /"pissa_niter_N"/);
  assert.throws(() => validateLoraConfig({ init_lora_weights: "olora" as never }), /OLoRA, EVA and CorDA initialisations are not implemented/);
});

test("recipes accept init_lora_weights pissa / loftq with loftq_config, and refuse loftq without it", () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-recipe-"));
  try {
    const data = join(shippedModelPath(), "..", "tasks", "home", "train.jsonl");
    const base = { model: { path: shippedModelPath() }, output: join(dir, "out"), data: { train: data }, training: { steps: 2 } };
    assert.equal(validateRecipe({ ...base, lora: { init_lora_weights: "pissa_niter_4" } }).lora.init_lora_weights, "pissa_niter_4");
    assert.deepEqual(validateRecipe({ ...base, lora: { init_lora_weights: "loftq", loftq_config: { loftq_bits: 4, loftq_iter: 2 } } }).lora.loftq_config, { loftq_bits: 4, loftq_iter: 2 });
    assert.throws(() => validateRecipe({ ...base, lora: { init_lora_weights: "loftq" } }), /lora\.init_lora_weights: expected loftq_config/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("files: adapter_config.json carries init_lora_weights and loftq_config as PEFT writes them; adapter + saved base round-trip", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-loftq-"));
  try {
    const config = { r: 4, lora_alpha: 4, target_modules: ["q_proj", "down_proj"], init_lora_weights: "loftq" as const, loftq_config: { loftq_bits: 4, loftq_iter: 2 } };
    const lora = toLoraModel(await loadModel(shippedModelPath()), config);
    const expectedLogits = logitsOn(lora, IDS);
    await saveBaseModel(lora, join(dir, "base"));
    saveAdapter(lora, join(dir, "adapter"));
    const json = JSON.parse(readFileSync(join(dir, "adapter", "adapter_config.json"), "utf8"));
    assert.equal(json.init_lora_weights, "loftq");
    assert.deepEqual(json.loftq_config, { loftq_bits: 4, loftq_iter: 2 });
    assert.deepEqual(readAdapterConfig(join(dir, "adapter")).loftq_config, { loftq_bits: 4, loftq_iter: 2 });
    // The adapter on the saved backbone gives the same logits; on the original base it would not.
    const reloaded = loadAdapter(await loadModel(join(dir, "base")), join(dir, "adapter"));
    assert.ok(maxAbsDiff(logitsOn(reloaded, IDS), expectedLogits) < 1e-5);
    const wrongBase = loadAdapter(await loadModel(shippedModelPath()), join(dir, "adapter"));
    assert.ok(maxAbsDiff(logitsOn(wrongBase, IDS), expectedLogits) > 1e-4);
    for (const m of [lora, reloaded, wrongBase]) m.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("PiSSA to LoRA on save (path_initial_model_for_weight_conversion): the converted adapter on the original base gives the trained model's logits", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-pissa-"));
  try {
    const lora = toLoraModel(await loadModel(shippedModelPath()), { r: 4, lora_alpha: 8, target_modules: ["q_proj", "v_proj"], init_lora_weights: "pissa" });
    saveAdapter(lora, join(dir, "initial"));
    // Stand-in for training: move every factor.
    for (const layer of lora.loraLayers().values()) {
      const adapter = layer.adapters.get("default")!;
      tf.tidy(() => {
        adapter.loraA.assign(adapter.loraA.add(tf.randomNormal(adapter.loraA.shape, 0, 0.05, "float32", 1)));
        adapter.loraB.assign(adapter.loraB.add(tf.randomNormal(adapter.loraB.shape, 0, 0.05, "float32", 2)));
      });
    }
    const trained = logitsOn(lora, IDS);
    saveAdapter(lora, join(dir, "converted"), { pathInitialModelForWeightConversion: join(dir, "initial") });
    const json = JSON.parse(readFileSync(join(dir, "converted", "adapter_config.json"), "utf8"));
    assert.equal(json.init_lora_weights, true);
    assert.equal(json.r, 8);
    assert.equal(json.lora_alpha, 16);
    const onOriginal = loadAdapter(await loadModel(shippedModelPath()), join(dir, "converted"));
    assert.ok(maxAbsDiff(logitsOn(onOriginal, IDS), trained) < 1e-4);
    assert.throws(() => saveAdapter(lora, join(dir, "bad"), { pathInitialModelForWeightConversion: join(dir, "missing") }), /adapter folder/);
    lora.dispose();
    onOriginal.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a QLoRA recipe with PiSSA loads W in float32, quantizes the residual, and saves the base beside the adapter", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-recipe-pissa-"));
  try {
    const data = join(shippedModelPath(), "..", "tasks", "home", "train.jsonl");
    const run = await trainFromRecipe({
      model: { path: shippedModelPath() },
      method: "qlora",
      lora: { r: 4, lora_alpha: 4, target_modules: ["q_proj", "v_proj"], init_lora_weights: "pissa" },
      data: { train: data },
      training: { steps: 2, batch_size: 2 },
      output: join(dir, "out"),
    }, { keepModel: true });
    const lora = run.model!;
    assert.ok(lora.loraLayers().get("model.layers.0.self_attn.q_proj")!.base instanceof QuantizedLinear, "the residual is 4-bit");
    const json = JSON.parse(readFileSync(join(run.outputs.adapter, "adapter_config.json"), "utf8"));
    assert.equal(json.init_lora_weights, "pissa");
    assert.equal(json.base_model_name_or_path, run.outputs.base);
    // The saved base is the dequantized residual: loading it and the adapter gives the trained model's logits.
    const reloaded = loadAdapter(await loadModel(run.outputs.base), run.outputs.adapter);
    assert.ok(maxAbsDiff(logitsOn(reloaded, IDS), logitsOn(lora, IDS)) < 1e-4);
    lora.dispose();
    reloaded.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
