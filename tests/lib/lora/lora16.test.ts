// 16-bit LoRA on a real checkpoint: the base linears hold 2 bytes per parameter exactly, their weights
// are PyTorch's bfloat16 / float16 rounding of the float32 ones, and training follows the float32-base
// run within what that rounding explains.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { HalfLinear, loadModel } from "../../../lib/model/index.js";
import { toLora16Model } from "../../../lib/lora/lora16.js";
import { toLoraModel } from "../../../lib/lora/lora_model.js";
import { mergeAndUnload } from "../../../lib/lora/merge.js";
import { bfloat16ToFloat32, float32ToBfloat16 } from "../../../lib/io/half_precision.js";

const HF_MODEL = new URL("../../../../shared/models/stories260K-hf", import.meta.url).pathname;
const IDS = [1, 403, 407, 261, 378, 430, 267, 310, 285, 261, 400];

before(async () => {
  await resolveBackend();
});

test("toLora16Model stores every base linear in bfloat16: 2 bytes per parameter on the host, weights rounded as torch rounds them", async () => {
  const reference = await loadModel(HF_MODEL);
  const model = await loadModel(HF_MODEL);
  const lora = toLora16Model(model, { r: 4, target_modules: "all-linear" });
  const linears = [...reference.linears()];
  assert.ok(linears.length > 0);
  assert.deepEqual(lora.base16.modules, linears.map(([path]) => path));
  const items = lora.memoryItems().filter((i) => i.category === "base_16bit");
  const parameters = linears.reduce((n, [, l]) => n + l.inFeatures * l.outFeatures, 0);
  assert.equal(items.reduce((n, i) => n + i.bytes, 0), 2 * parameters, "2 bytes per base linear parameter");
  assert.ok(items.every((i) => !i.onBackend));
  for (const [path, linear] of linears) {
    const dense = linear.denseWeight();
    const expected = bfloat16ToFloat32(float32ToBfloat16(dense.dataSync() as Float32Array));
    dense.dispose();
    const half = [...model.linears()].find(([p]) => p === path)![1];
    const widened = half.denseWeight();
    assert.deepEqual(widened.dataSync(), expected, path);
    widened.dispose();
  }
  assert.ok([...model.linears()].every(([, l]) => !(l instanceof HalfLinear)), "the LoRA layers wrap the 16-bit bases");
  reference.dispose();
  lora.dispose();
});

test("10 SGD steps of 16-bit LoRA follow the float32-base run within bfloat16's rounding", async () => {
  const ids = tf.tensor2d([IDS.slice(0, -1)], undefined, "int32");
  const targets = tf.tensor2d([IDS.slice(1)], undefined, "int32");
  const mask = tf.ones(targets.shape, "float32") as tf.Tensor2D;
  const losses: number[][] = [];
  for (const half of [false, true]) {
    const model = await loadModel(HF_MODEL);
    const config = { r: 4, lora_alpha: 8, target_modules: "all-linear" } as const;
    const lora = half ? toLora16Model(model, config, "bf16", { seed: 5 }) : toLoraModel(model, config, { seed: 5 });
    const params = lora.trainableVariables().map((p) => p.variable);
    const run: number[] = [];
    for (let step = 0; step < 10; step++) {
      const { value, grads } = tf.variableGrads(() => lora.loss(ids, targets, mask), params);
      run.push(value.dataSync()[0]!);
      for (const p of params) {
        const updated = tf.tidy(() => tf.sub(p, tf.mul(grads[p.name]!, 0.02)));
        p.assign(updated);
        updated.dispose();
      }
      tf.dispose([value, ...Object.values(grads)]);
    }
    losses.push(run);
    lora.dispose();
  }
  tf.dispose([ids, targets, mask]);
  const [full, half] = losses as [number[], number[]];
  assert.ok(half[9]! < half[0]! - 0.1, `16-bit LoRA trains: ${half[0]} -> ${half[9]}`);
  // bfloat16 keeps 8 significant bits: each base weight moves by at most 2^-9 of itself. At step 0
  // (B = 0, so the loss is the base's) that moves the loss by about 0.01 %; later steps follow their
  // own slightly different gradients, so the runs drift apart by a few hundredths of a nat at most
  // while both go down. Equality to float32 precision would mean the rounding had not happened.
  const step0 = Math.abs(half[0]! - full[0]!) / full[0]!;
  assert.ok(step0 < 1e-3 && step0 > 0, `step 0: ${half[0]} vs float32 base ${full[0]} (relative ${step0})`);
  for (let step = 0; step < 10; step++) assert.ok(Math.abs(half[step]! - full[step]!) < 0.02, `step ${step}: ${half[step]} vs float32 base ${full[step]}`);
  assert.ok(half.some((l, i) => l !== full[i]), "the 16-bit run is not the float32 run");
});

test("merging into a bfloat16 base rounds W + dW to bfloat16 once (the default for 16-bit bases) and reports what survives", async () => {
  const model = await loadModel(HF_MODEL);
  const lora = toLora16Model(model, { r: 4, lora_alpha: 8, target_modules: ["q_proj", "down_proj"], init_lora_weights: false }, "bf16", { seed: 3 });
  const ids = tf.tensor2d([IDS], [1, IDS.length], "int32");
  const separate = lora.forward(ids);
  // The expected bits, from the parts: bf16(widen(W16) + scaling * B A), per layer.
  const expected = new Map<string, Uint16Array>();
  for (const [path, layer] of lora.loraLayers()) {
    const adapter = layer.adapters.get("default")!;
    const sum = tf.tidy(() => tf.add(layer.base.denseWeight(), tf.mul(tf.matMul(adapter.loraB, adapter.loraA), adapter.scaling)).dataSync() as Float32Array);
    expected.set(path, float32ToBfloat16(sum));
  }
  const result = mergeAndUnload(lora);
  assert.equal(result.strategy, "requantize");
  for (const report of result.layers) {
    assert.equal(report.base, "16-bit");
    const half = [...model.linears()].find(([p]) => p === report.module)![1] as HalfLinear;
    assert.ok(half instanceof HalfLinear && half.dtype === "bf16", `${report.module} stays bfloat16`);
    assert.deepEqual(half.bits, expected.get(report.module), report.module);
    const m = report.requantize!;
    assert.ok(m.survival > 0 && m.survival <= 1.5 && m.deltaError >= 0 && m.outputError >= 0, JSON.stringify(m));
  }
  const merged = model.forward(ids);
  const [diff, scale] = tf.tidy(() => [tf.max(tf.abs(tf.sub(merged, separate))).dataSync()[0]!, tf.max(tf.abs(separate)).dataSync()[0]!]);
  // bfloat16 keeps 8 significant bits (relative spacing 2^-8 = 0.4 %): the merged weights' rounding moves the logits by about that much.
  assert.ok(diff < 0.01 * scale, `merged vs separate logits differ by ${diff} of max |logit| ${scale}`);
  tf.dispose([ids, separate, merged]);
  model.dispose();
});
