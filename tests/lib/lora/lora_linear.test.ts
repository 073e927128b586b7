import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { DenseLinear } from "../../../lib/model/linear.js";
import { LoraAdapter, LoraLinear } from "../../../lib/lora/lora_linear.js";
import { loraDelta } from "../../../lib/lora/delta.js";
import { initLoraValues } from "../../../lib/lora/init.js";
import { QuantizedLinear } from "../../../lib/model/index.js";
import { quantize4bit, seededNormal } from "../../../lib/quant/index.js";

// Float32 gradients and finite differences on the cpu backend, as the reference implementation.
before(async () => {
  await resolveBackend({ force: "cpu" });
});

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

function assignValues(v: tf.Variable, values: Float32Array | tf.Tensor): void {
  const t = values instanceof tf.Tensor ? values : tf.tensor(values, v.shape);
  v.assign(t);
  t.dispose();
}

function adapterOn(layer: LoraLinear, name: string, r: number, alpha: number, init: boolean | "gaussian", seed: number, dropout = 0): LoraAdapter {
  const values = initLoraValues(init, r, layer.inFeatures, layer.outFeatures, seed);
  const adapter = new LoraAdapter(name, { r, alpha, scaling: alpha / r, dropout }, { ...values, inFeatures: layer.inFeatures, outFeatures: layer.outFeatures });
  layer.addAdapter(adapter);
  return adapter;
}

function denseLayer(out: number, inF: number, seed: number, path = "model.layers.0.self_attn.q_proj"): DenseLinear {
  return new DenseLinear(tf.tensor2d(seededNormal(out * inF, seed, { std: 0.5 }), [out, inF]), { name: path });
}

test("a hand-worked case: y = x W^T + (x A^T) B^T * alpha / r", () => {
  const before = tf.memory().numTensors;
  const layer = new LoraLinear(new DenseLinear(tf.tensor2d([[1, 0], [0, 1], [1, 1]]), { name: "m" }), "m"); // W: [3, 2]
  // A = [[1, 2]] (r = 1, in = 2), B = [[1], [0], [-1]] (out = 3), alpha = 2 -> scaling 2.
  layer.addAdapter(new LoraAdapter("default", { r: 1, alpha: 2, scaling: 2, dropout: 0 }, { a: new Float32Array([1, 2]), b: new Float32Array([1, 0, -1]), inFeatures: 2, outFeatures: 3 }));
  const x = tf.tensor2d([[3, 4]]);
  // x W^T = [3, 4, 7]; x A^T = 11; times B^T = [11, 0, -11]; times 2 = [22, 0, -22].
  const y = layer.apply(x);
  assert.deepEqual([...y.dataSync()], [25, 4, -15]);
  const delta = loraDelta(layer.adapters.get("default")!);
  assert.deepEqual([...delta.dataSync()], [2, 4, 0, 0, -2, -4]);
  tf.dispose([x, y, delta]);
  layer.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
});

test("with B = 0 the output is exactly the base output; merge then unmerge restores W within 1e-6; merged equals separate within 1e-5", () => {
  const before = tf.memory().numTensors;
  const base = denseLayer(48, 32, 1);
  const w0 = base.weight.dataSync().slice();
  const layer = new LoraLinear(base, "model.layers.0.self_attn.q_proj");
  const adapter = adapterOn(layer, "default", 4, 8, true, 2);
  const x = tf.tensor2d(seededNormal(5 * 32, 3), [5, 32]);
  const y0 = layer.apply(x);
  const yBase = base.apply(x);
  assert.deepEqual(y0.dataSync(), yBase.dataSync(), "B = 0: bit-identical to the base");
  // Give B values (as training would), then compare merged and separate paths.
  assignValues(adapter.loraB, seededNormal(48 * 4, 4, { std: 0.3 }));
  const separate = layer.apply(x);
  layer.merge();
  assert.equal(layer.mergedAdapter, "default");
  assert.deepEqual(layer.trainableVariables(), [], "a merged adapter does not train");
  const merged = layer.apply(x);
  const diff = maxAbsDiff(merged, separate);
  assert.ok(diff < 1e-5, `merged vs separate max |diff| ${diff}`);
  assert.ok(maxAbsDiff(separate, yBase) > 0.1, "the adapter changes the output");
  layer.unmerge();
  const w1 = (layer.base as DenseLinear).weight.dataSync();
  let worst = 0;
  for (let i = 0; i < w0.length; i++) worst = Math.max(worst, Math.abs(w1[i]! - w0[i]!));
  assert.ok(worst < 1e-6, `unmerge restores W: max |diff| ${worst}`);
  tf.dispose([x, y0, yBase, separate, merged]);
  layer.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
});

/**
 * Checks an analytic gradient against central finite differences, one element at a time. The losses
 * here are linear in each of A, B and x separately, so central differences are exact up to rounding.
 */
function assertMatchesFiniteDifferences(v: tf.Variable, gradient: tf.Tensor, lossFn: () => tf.Scalar, label: string): void {
  const analytic = gradient.dataSync();
  const values = (v.dataSync() as Float32Array).slice();
  const eps = 1e-2;
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < values.length; i++) {
    const at = (delta: number) => {
      const moved = values.slice();
      moved[i] = values[i]! + delta;
      assignValues(v, moved);
      return tf.tidy(() => lossFn().dataSync()[0]!);
    };
    const numeric = (at(eps) - at(-eps)) / (2 * eps);
    worst = Math.max(worst, Math.abs(numeric - analytic[i]!));
    scale = Math.max(scale, Math.abs(analytic[i]!));
    assignValues(v, values);
  }
  assert.ok(scale > 0.1, `${label}: non-trivial gradient`);
  assert.ok(worst < 1e-3 * scale, `${label}: max |numeric - analytic| ${worst} vs scale ${scale}`);
}

test("gradients of A and B match central finite differences (dense base, float32, cpu)", () => {
  const before = tf.memory().numTensors;
  const layer = new LoraLinear(denseLayer(4, 5, 10), "m");
  const adapter = adapterOn(layer, "default", 3, 6, false, 11); // init false: B != 0 so dL/dA != 0
  const x = tf.tensor2d(seededNormal(6 * 5, 12), [6, 5]);
  const probe = tf.tensor2d(seededNormal(6 * 4, 13), [6, 4]); // L = sum(y * probe)
  const lossFn = () => tf.sum(tf.mul(layer.apply(x), probe)) as tf.Scalar;
  const { value, grads } = tf.variableGrads(lossFn, [adapter.loraA, adapter.loraB]);
  assert.deepEqual(Object.keys(grads).sort(), [adapter.loraA.name, adapter.loraB.name].sort());
  for (const v of [adapter.loraA, adapter.loraB]) {
    assertMatchesFiniteDifferences(v, grads[v.name]!, lossFn, v === adapter.loraA ? "A" : "B");
  }
  tf.dispose([x, probe, value, ...Object.values(grads)]);
  layer.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensor leaks (assign frees the replaced values)");
});

test("the base gets no gradient; only the active adapter trains; dropout touches only the LoRA branch", () => {
  const base = denseLayer(8, 6, 20);
  const layer = new LoraLinear(base, "m", 5);
  const first = adapterOn(layer, "first", 2, 2, true, 21, 0.5);
  const second = adapterOn(layer, "second", 2, 2, "gaussian", 22);
  assert.equal(layer.activeAdapter, "first");
  assert.deepEqual(layer.trainableVariables(), [first.loraA, first.loraB]);
  assert.equal(second.loraA.trainable, false);
  layer.setActiveAdapter("second");
  assert.deepEqual(layer.namedTrainableVariables().map((v) => v.name), ["m.lora_A.weight", "m.lora_B.weight"]);
  assert.equal(first.loraA.trainable, false);
  layer.setActiveAdapter("first");
  // B = 0 with dropout on: the branch is still zero, so training mode cannot change the output.
  const x = tf.tensor2d(seededNormal(3 * 6, 23), [3, 6]);
  layer.setTraining(true);
  const yTrain = layer.apply(x);
  const yBase = base.apply(x);
  assert.deepEqual(yTrain.dataSync(), yBase.dataSync());
  // With B != 0, dropout changes the branch (training) but evaluation is deterministic.
  assignValues(first.loraB, tf.ones([8, 2]));
  const t1 = layer.apply(x);
  const t2 = layer.apply(x);
  assert.notDeepEqual(t1.dataSync(), t2.dataSync(), "fresh dropout mask per call");
  layer.setTraining(false);
  const e1 = layer.apply(x);
  const e2 = layer.apply(x);
  assert.deepEqual(e1.dataSync(), e2.dataSync());
  layer.setAdaptersDisabled(true);
  const off = layer.apply(x);
  assert.deepEqual(off.dataSync(), yBase.dataSync(), "disabled: base output");
  layer.setAdaptersDisabled(false);
  layer.deleteAdapter("first");
  assert.equal(layer.activeAdapter, null);
  assert.deepEqual([...layer.adapters.keys()], ["second"]);
  assert.throws(() => layer.setActiveAdapter("first"), /expected one of "second", got "first"/);
  assert.throws(() => layer.addAdapter(new LoraAdapter("bad", { r: 2, alpha: 2, scaling: 1, dropout: 0 }, { a: new Float32Array(2 * 5), b: new Float32Array(8 * 2), inFeatures: 5, outFeatures: 8 })), /lora_A \[r, 6\] and lora_B \[8, r\], got lora_A \[2, 5\]/);
  tf.dispose([x, yTrain, yBase, t1, t2, e1, e2, off]);
  layer.dispose();
});

test("gradients of A, B and the input match finite differences over a 4-bit base (NF4, double quantization, cpu)", () => {
  const before = tf.memory().numTensors;
  const [out, inF] = [4, 64];
  const q = quantize4bit(seededNormal(out * inF, 30, { std: 0.5 }), [out, inF], { quantType: "nf4", doubleQuant: true });
  const layer = new LoraLinear(new QuantizedLinear(q, { name: "m" }), "m");
  const adapter = adapterOn(layer, "default", 3, 6, false, 31);
  const x = tf.tidy(() => tf.variable(tf.tensor2d(seededNormal(5 * inF, 32), [5, inF])));
  const probe = tf.tensor2d(seededNormal(5 * out, 33), [5, out]);
  const lossFn = () => tf.sum(tf.mul(layer.apply(x), probe)) as tf.Scalar;
  assert.deepEqual(layer.trainableVariables(), [adapter.loraA, adapter.loraB], "the 4-bit base contributes no variables");
  const { value, grads } = tf.variableGrads(lossFn, [adapter.loraA, adapter.loraB, x]);
  for (const v of [adapter.loraA, adapter.loraB, x]) {
    assertMatchesFiniteDifferences(v, grads[v.name]!, lossFn, v === x ? "x" : v === adapter.loraA ? "A" : "B");
  }
  // LoRA on a 4-bit base never merges silently.
  assert.throws(() => layer.merge(), /expected a dense float32 base to merge into, got a QuantizedLinear base\. For a 4-bit base call mergeAndUnload\(model, \{ strategy \}\) with strategy "separate" .* "float32" .* "requantize"/);
  tf.dispose([x, probe, value, ...Object.values(grads)]);
  layer.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
});
