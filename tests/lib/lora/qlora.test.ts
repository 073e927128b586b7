import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { loadModel } from "../../../lib/model/index.js";
import { DenseLinear } from "../../../lib/model/linear.js";
import { QuantizedLinear } from "../../../lib/model/index.js";
import { quantize4bit, seededNormal } from "../../../lib/quant/index.js";
import { LoraLinear } from "../../../lib/lora/lora_linear.js";
import { toQloraModel } from "../../../lib/lora/qlora.js";
import { mergeAndUnload, requantizeMerge } from "../../../lib/lora/merge.js";
import { loraDelta } from "../../../lib/lora/delta.js";
import { countParameters } from "../../../lib/lora/count.js";
import { toLoraModel } from "../../../lib/lora/lora_model.js";
import { logitsOn, maxAbsDiff } from "./helpers.js";

const HF_MODEL = new URL("../../../../shared/models/stories260K-hf", import.meta.url).pathname;
const IDS = [[1, 403, 407, 261, 378, 430, 267, 310, 285, 261, 400]];

before(async () => {
  await resolveBackend();
});

function logits(model: { forward(ids: tf.Tensor2D): tf.Tensor3D }): Float32Array {
  return logitsOn(model, IDS);
}

/** The reference a QLoRA model must reproduce: the same model with each linear's dequantized weight as a dense float32 layer. */
async function dequantizedReference(quant: { quantType: "nf4" | "fp4"; doubleQuant: boolean }) {
  const ref = await loadModel(HF_MODEL);
  for (const [path, linear] of ref.linears()) {
    const w = linear.denseWeight();
    const q = quantize4bit(w.dataSync() as Float32Array, [...w.shape], { ...quant, blocksize: 64 });
    w.dispose();
    ref.setLinear(path, new DenseLinear(q.dequantize() as tf.Tensor2D, { name: path })).dispose();
  }
  return ref;
}

for (const quant of [{ quantType: "nf4", doubleQuant: true }, { quantType: "fp4", doubleQuant: false }] as const) {
  test(`toQloraModel (${quant.quantType}${quant.doubleQuant ? "+DQ" : ""}): B = 0 gives exactly the 4-bit base's logits, which equal the dequantized float32 model's; only 4-bit weights stay resident`, async () => {
    const ref = await dequantizedReference(quant);
    const expectedLogits = logits(ref);
    ref.dispose();
    const model = await loadModel(HF_MODEL);
    const full = logits(model);
    const lora = toQloraModel(model, { target_modules: "all-linear", r: 4 }, quant);
    assert.equal(lora.quantization.modules.length, 35);
    assert.ok([...lora.loraLayers().values()].every((l) => l.base instanceof QuantizedLinear));
    const qlora = logits(lora);
    assert.deepEqual(qlora, lora.withAdaptersDisabled(() => logits(lora)), "B = 0: bit-identical to the 4-bit base alone");
    // The dense reference multiplies the same dequantized weights with another kernel: equal to float noise.
    assert.ok(maxAbsDiff(qlora, expectedLogits) < 1e-4, `QLoRA vs dequantized float32 model ${maxAbsDiff(qlora, expectedLogits)}`);
    assert.ok(maxAbsDiff(expectedLogits, full) > 1e-3, "quantization does change the model");
    // Nothing float32 is held for the linears: codes and scales only (in host memory), plus LoRA factors.
    const items = lora.memoryItems();
    const linearOwners = new Set(lora.loraLayers().keys());
    assert.ok(!items.some((i) => i.category === "base_dense" && linearOwners.has(i.owner ?? "")), "no dense linear weights");
    const packed = items.filter((i) => i.category === "base_packed").reduce((s, i) => s + i.bytes, 0);
    assert.equal(packed, 227_200 / 2 - 5 * 128 / 2, "half a byte per linear weight");
    // A forward leaves no dequantized weight behind.
    const tensorsBefore = tf.memory().numTensors;
    const bytesBefore = tf.memory().numBytes;
    logits(lora);
    assert.equal(tf.memory().numTensors, tensorsBefore);
    assert.equal(tf.memory().numBytes, bytesBefore);
    const count = countParameters(lora);
    assert.equal(count.total.params - count.trainable.params, 260_032, "4-bit weights count as parameters, not bytes");
    assert.ok(count.groups.some((g) => g.group === "base linears (4-bit)" && g.params === 227_200 - 640));
    lora.dispose();
  });
}

test("merging into a 4-bit base: never silent; float32 copy is exact; requantize reports per layer", async () => {
  const model = await loadModel(HF_MODEL);
  const lora = toQloraModel(model, { target_modules: ["q_proj", "down_proj"], r: 4, init_lora_weights: false }, { quantType: "nf4", doubleQuant: true }, { seed: 3 });
  const separate = logits(lora);
  assert.throws(() => mergeAndUnload(lora), /expected an explicit strategy for a 4-bit base: "separate", "float32" or "requantize", got none\. 10 adapted layer\(s\) have a 4-bit base/);
  assert.throws(() => lora.mergeAdapter(), /expected a dense float32 base to merge into, got a QuantizedLinear base/);
  const kept = mergeAndUnload(lora, { strategy: "separate" });
  assert.equal(kept.layers.length, 10);
  assert.ok(model.linears().get("model.layers.0.self_attn.q_proj") instanceof LoraLinear, "separate keeps the adapter");
  assert.deepEqual(logits(lora), separate);
  // Two copies of the same QLoRA model: one merged into float32, one requantized.
  const model2 = await loadModel(HF_MODEL);
  const lora2 = toQloraModel(model2, { target_modules: ["q_proj", "down_proj"], r: 4, init_lora_weights: false }, { quantType: "nf4", doubleQuant: true }, { seed: 3 });
  assert.deepEqual(logits(lora2), separate, "seeded: identical adapters");
  const f32 = mergeAndUnload(lora, { strategy: "float32" });
  assert.ok(model.linears().get("model.layers.0.self_attn.q_proj") instanceof DenseLinear);
  assert.ok(model.linears().get("model.layers.0.self_attn.k_proj") instanceof QuantizedLinear, "unadapted layers stay 4-bit");
  assert.ok(maxAbsDiff(logits(model), separate) < 1e-4, `float32 merge vs separate ${maxAbsDiff(logits(model), separate)}`);
  assert.equal(f32.layers[0]!.requantize, undefined);
  const rq = mergeAndUnload(lora2, { strategy: "requantize" });
  assert.ok(model2.linears().get("model.layers.0.self_attn.q_proj") instanceof QuantizedLinear, "requantized layers are 4-bit again");
  assert.equal(rq.layers.length, 10);
  for (const layer of rq.layers) {
    const m = layer.requantize!;
    assert.ok(m.rho > 0 && m.survival > -0.5 && m.survival < 1.5 && m.outputError > 0, JSON.stringify(layer));
  }
  const requantized = logits(model2);
  assert.ok(maxAbsDiff(requantized, separate) > maxAbsDiff(logits(model), separate), "requantization is lossy, the float32 merge is not");
  model.dispose();
  model2.dispose();
});

test("requantized NF4 merge: a rank-16 delta of 1% of the weight's norm is mostly lost, one of 20% mostly kept (W ~ N(0, 0.02^2), 1024x1024)", () => {
  const n = 1024;
  const q = quantize4bit(seededNormal(n * n, 1, { std: 0.02 }), [n, n], { quantType: "nf4" });
  const wHat = q.dequantizeToArray();
  const wNorm = Math.sqrt(wHat.reduce((s, v) => s + v * v, 0));
  const before = tf.memory().numTensors;
  const unit = tf.tidy(() => {
    const a = tf.tensor2d(seededNormal(16 * n, 2), [16, n]);
    const b = tf.tensor2d(seededNormal(n * 16, 3), [n, 16]);
    return loraDelta({ loraA: a, loraB: b, scaling: 1 }).dataSync() as Float32Array; // rank 16
  });
  const unitNorm = Math.sqrt(unit.reduce((s, v) => s + v * v, 0));
  const survival = (rho: number) => {
    const delta = unit.map((v) => (v * rho * wNorm) / unitNorm);
    return requantizeMerge(q, delta).metrics;
  };
  const small = survival(0.01);
  const large = survival(0.2);
  assert.ok(Math.abs(small.rho - 0.01) < 1e-4 && Math.abs(large.rho - 0.2) < 1e-3);
  assert.ok(small.survival < 0.05, `rho 0.01: ${small.survival} of the delta survives (published: about 1 %)`);
  assert.ok(small.deltaOutputError > 0.9, "the merged delta's effect on outputs is mostly error");
  assert.ok(large.survival > 0.95 && large.survival < 1.05, `rho 0.20: ${large.survival} survives (published: about 99 %)`);
  assert.ok(large.deltaOutputError < 0.6);
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
});

test("training signal on the default backend: only A and B get gradients, and a few SGD steps lower the loss (LoRA and QLoRA)", async () => {
  const ids = tf.tensor2d([IDS[0]!.slice(0, -1)], undefined, "int32");
  const targets = tf.tensor2d([IDS[0]!.slice(1)], undefined, "int32");
  const mask = tf.ones(targets.shape, "float32") as tf.Tensor2D;
  for (const quantized of [false, true]) {
    const model = await loadModel(HF_MODEL);
    const config = { r: 4, lora_alpha: 8, target_modules: "all-linear" } as const;
    const lora = quantized ? toQloraModel(model, config) : toLoraModel(model, config);
    const params = lora.trainableVariables();
    assert.equal(params.length, 70);
    const lossOf = () => lora.loss(ids, targets, mask);
    const first = tf.tidy(() => lossOf().dataSync()[0]!);
    const { value, grads } = tf.variableGrads(lossOf, params.map((p) => p.variable));
    assert.deepEqual(Object.keys(grads).sort(), params.map((p) => p.variable.name).sort(), "gradients exist exactly for the LoRA factors");
    const norms = (kind: "A" | "B") => params.filter((p) => p.name.includes(`lora_${kind}`)).map((p) => tf.tidy(() => tf.norm(grads[p.variable.name]!).dataSync()[0]!));
    assert.ok(norms("A").every((n) => n === 0), "with B = 0 the gradient of A is exactly zero (as in PEFT at step 0)");
    assert.ok(norms("B").every((n) => n > 0));
    tf.dispose([value, ...Object.values(grads)]);
    for (let step = 0; step < 5; step++) {
      const { value: l, grads: g } = tf.variableGrads(lossOf, params.map((p) => p.variable));
      for (const p of params) {
        const updated = tf.tidy(() => tf.sub(p.variable, tf.mul(g[p.variable.name]!, 0.05)));
        p.variable.assign(updated);
        updated.dispose();
      }
      tf.dispose([l, ...Object.values(g)]);
    }
    const last = tf.tidy(() => lossOf().dataSync()[0]!);
    assert.ok(last < first - 0.1, `${quantized ? "QLoRA" : "LoRA"} loss ${first} -> ${last}`);
    lora.dispose();
  }
  tf.dispose([ids, targets, mask]);
});
