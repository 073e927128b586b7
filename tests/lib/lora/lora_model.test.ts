import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { loadModel, type LlamaModel } from "../../../lib/model/index.js";
import { DenseLinear } from "../../../lib/model/linear.js";
import { LoraLinear } from "../../../lib/lora/lora_linear.js";
import { toLoraModel } from "../../../lib/lora/lora_model.js";
import { countParameters, formatParameterCount } from "../../../lib/lora/count.js";
import { mergeAndUnload } from "../../../lib/lora/merge.js";
import { logitsOn, maxAbsDiff } from "./helpers.js";

const HF_MODEL = new URL("../../../../shared/models/stories260K-hf", import.meta.url).pathname;
const IDS = [[1, 403, 407, 261, 378, 430, 267, 1046 % 512, 310, 285, 261, 400]];

before(async () => {
  await resolveBackend();
});

function logits(model: { forward(ids: tf.Tensor2D): tf.Tensor3D }): Float32Array {
  return logitsOn(model, IDS);
}

test("toLoraModel on stories260K: q/v adapters by default, PEFT parameter names, B = 0 gives the base logits exactly", async () => {
  const empty = tf.memory().numTensors;
  const model = await loadModel(HF_MODEL);
  const base = logits(model);
  const before = tf.memory().numTensors;
  const lora = toLoraModel(model, { r: 8, lora_alpha: 16 });
  assert.equal(lora.adaptedModules().length, 10);
  assert.ok(model.linears().get("model.layers.0.self_attn.q_proj") instanceof LoraLinear, "the model itself is changed in place");
  const names = lora.trainableVariables().map((v) => v.name);
  assert.equal(names.length, 20);
  assert.equal(names[0], "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  assert.equal(names[1], "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight");
  assert.deepEqual(lora.trainableVariables()[0]!.variable.shape, [8, 64]);
  assert.deepEqual(lora.trainableVariables()[3]!.variable.shape, [32, 8], "v_proj B is [kv width 32, r]");
  assert.deepEqual(logits(lora), base, "bit-identical logits with B = 0");
  // The base model's own trainableVariables now finds only LoRA factors (the base is frozen).
  assert.equal(model.trainableVariables().length, 20);
  const count = countParameters(lora);
  // q: 8*(64+64), v: 8*(64+32), five layers.
  assert.equal(count.trainable.params, 5 * (8 * 128 + 8 * 96));
  assert.equal(count.trainable.bytes, count.trainable.params * 4);
  assert.equal(count.total.params, 260_032 + count.trainable.params, "stories260K: 32,768 embedding + 5 x 45,440 per block + 64 final norm");
  assert.match(formatParameterCount(count), /^trainable params: 8,960 \|\| all params: 268,992 \|\| trainable%: 3\.3310$/);
  assert.equal(tf.memory().numTensors - before, 20, "exactly the 20 LoRA factors were added");
  // Generation goes through the adapted linears; with B = 0 it writes what the base writes.
  const generated = await lora.generate([1], { maxNewTokens: 12 });
  const reference = await lora.withAdaptersDisabled(() => model.generate([1], { maxNewTokens: 12 }));
  assert.equal(generated.ids.length, 12);
  assert.deepEqual(generated.ids, reference.ids);
  assert.equal(tf.memory().numTensors, before + 20, "generation leaves no tensors behind");
  lora.dispose();
  assert.equal(tf.memory().numTensors, empty, "dispose frees the base and the adapters");
});

test("several adapters: add, switch, disable (base output), delete; merge/unmerge and merge-and-unload on the dense base", async () => {
  const model = await loadModel(HF_MODEL);
  const base = logits(model);
  const lora = toLoraModel(model, { r: 4, init_lora_weights: false, target_modules: ["q_proj", "v_proj"] }, { seed: 1 });
  const first = logits(lora);
  assert.ok(maxAbsDiff(first, base) > 1e-3, "init false is not a no-op");
  const modules = lora.addAdapter("mlp", { r: 2, lora_alpha: 4, target_modules: ["up_proj", "down_proj"], init_lora_weights: false }, { seed: 2 });
  assert.equal(modules.length, 10);
  assert.equal(lora.activeAdapter, "default", "adding does not switch");
  assert.deepEqual(logits(lora), first);
  lora.setAdapter("mlp");
  const second = logits(lora);
  assert.ok(maxAbsDiff(second, first) > 1e-3 && maxAbsDiff(second, base) > 1e-3, "the second adapter gives other logits");
  assert.ok(lora.trainableVariables().every((v) => /mlp\.(up|down)_proj\.lora_[AB]\.weight$/.test(v.name)), "only the active adapter trains");
  lora.disableAdapters();
  assert.deepEqual(logits(lora), base, "disabled: the base logits exactly");
  assert.deepEqual(lora.trainableVariables(), []);
  const inside = lora.withAdaptersDisabled(() => logits(lora));
  assert.deepEqual(inside, base);
  lora.enableAdapters();
  assert.deepEqual(logits(lora), second);
  assert.deepEqual(lora.withAdaptersDisabled(() => logits(lora)), base);
  assert.deepEqual(logits(lora), second, "withAdaptersDisabled restores the adapters");
  lora.deleteAdapter("mlp");
  assert.equal(lora.activeAdapter, "default");
  assert.ok(model.linears().get("model.layers.0.mlp.up_proj") instanceof DenseLinear, "a layer without adapters gets its base back");
  assert.deepEqual(logits(lora), first);
  assert.throws(() => lora.setAdapter("mlp"), /expected an adapter name \("default"\), got "mlp"/);
  // Merge in place and back: the weights come back within 1e-6, the logits within float noise.
  const weightsOf = () => new Map([...lora.loraLayers()].map(([path, layer]) => [path, tf.tidy(() => layer.base.denseWeight().dataSync() as Float32Array)]));
  const original = weightsOf();
  lora.mergeAdapter();
  const merged = logits(lora);
  assert.ok(maxAbsDiff(merged, first) < 1e-4, `merged vs separate logits ${maxAbsDiff(merged, first)}`);
  lora.unmergeAdapter();
  for (const [path, w] of weightsOf()) assert.ok(maxAbsDiff(w, original.get(path)!) < 1e-6, `${path}: unmerge restores the weight`);
  assert.ok(maxAbsDiff(logits(lora), first) < 1e-4, `unmerged vs separate ${maxAbsDiff(logits(lora), first)}`);
  // Merge and unload: a plain model with dense linears gives the adapted logits.
  const result = mergeAndUnload(lora);
  assert.equal(result.strategy, "float32");
  assert.equal(result.layers.length, 10);
  assert.ok([...model.linears().values()].every((l) => l instanceof DenseLinear), "merge-and-unload leaves dense linears only");
  assert.ok(maxAbsDiff(logits(model), first) < 1e-4, `merged-and-unloaded vs separate ${maxAbsDiff(logits(model), first)}`);
  assert.deepEqual(lora.adapterNames, []);
  model.dispose();
});

test("freezing a fully trainable model: only LoRA factors are trainable afterwards", async () => {
  const model: LlamaModel = await loadModel(HF_MODEL, { trainable: "all" });
  const lora = toLoraModel(model, { target_modules: "all-linear", r: 2 });
  assert.equal(lora.adaptedModules().length, 35);
  assert.equal(lora.trainableVariables().length, 70);
  const trainableFlags = model.trainableVariables().filter((v) => v.variable.trainable).length;
  assert.equal(trainableFlags, 70, "embedding and norm variables are marked non-trainable");
  lora.dispose();
});
