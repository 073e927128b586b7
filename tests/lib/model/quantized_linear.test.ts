// QuantizedLinear: output and input gradient equal a DenseLinear of the dequantized weight; no weight
// gradient; the dequantized weight does not outlive apply(); no leaked tensors.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { DenseLinear } from "../../../lib/model/linear.js";
import { QuantizedLinear } from "../../../lib/model/quantized_linear.js";
import { quantize4bit } from "../../../lib/quant/quantized_tensor.js";
import { seededNormal } from "../../../lib/quant/random_normal.js";

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

test("forward and input gradient match a DenseLinear holding the dequantized weight", async () => {
  await resolveBackend();
  const [out, inp, n] = [48, 64, 5];
  const q = quantize4bit(seededNormal(out * inp, 11, { std: 0.02 }), [out, inp], { doubleQuant: true });
  const layer = new QuantizedLinear(q, { name: "model.layers.0.mlp.up_proj" });
  const dense = new DenseLinear(q.dequantize() as tf.Tensor2D, { name: "dense" });
  const before = tf.memory().numTensors;
  const x = tf.tensor2d(seededNormal(n * inp, 12), [n, inp]);
  const probe = tf.tensor2d(seededNormal(n * out, 13), [n, out]);
  const lossOf = (linear: { apply(x: tf.Tensor2D): tf.Tensor2D }) => (input: tf.Tensor) => tf.sum(tf.mul(linear.apply(input as tf.Tensor2D), probe));
  const yq = layer.apply(x);
  const yd = dense.apply(x);
  assert.deepEqual(yq.shape, [n, out]);
  assert.ok(maxAbsDiff(yq, yd) < 1e-5);
  const gq = tf.grad(lossOf(layer))(x);
  const gd = tf.grad(lossOf(dense))(x);
  assert.deepEqual(gq.shape, [n, inp]);
  assert.ok(maxAbsDiff(gq, gd) < 1e-5);
  // Expected gradient computed by hand: probe @ W.
  const w = layer.denseWeight();
  const manual = tf.matMul(probe, w);
  assert.ok(maxAbsDiff(gq, manual) < 1e-5);
  tf.dispose([x, probe, yq, yd, gq, gd, w, manual]);
  assert.equal(tf.memory().numTensors, before, "apply/grad leave no tensors behind (the weight is transient)");
  assert.deepEqual(layer.trainableVariables(), []);
  const items = layer.memoryItems();
  assert.equal(items[0]!.owner, "model.layers.0.mlp.up_proj");
  assert.equal(items[0]!.bytes, (out * inp) / 2);
  dense.dispose();
  layer.dispose();
});

test("apply rejects a wrong input width; the constructor rejects a non-2-D weight", async () => {
  await resolveBackend();
  const layer = new QuantizedLinear(quantize4bit(new Float32Array(64 * 32).fill(1), [64, 32]), { name: "l" });
  const x = tf.zeros([2, 31]) as tf.Tensor2D;
  assert.throws(() => layer.apply(x), /\[N, 32\]/);
  x.dispose();
  assert.throws(() => new QuantizedLinear(quantize4bit(new Float32Array(64), [64]), { name: "v" }), /2-D/);
});
