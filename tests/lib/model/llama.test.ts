// Real-checkpoint tests: stories260K in llama2.c and Hugging Face form, and PyTorch as an independent reference.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { DenseLinear, LlamaModel, initLlamaModel, llamaConfig, loadModel, loadTokenizer, type Tokenizer } from "../../../lib/model/index.js";
import { InvalidArgumentError, TensorError } from "../../../lib/errors.js";
import { PEFT_PREFIX, toLoraModel } from "../../../lib/lora/index.js";
import { skipUnlessPythonModules, jupyterPython } from "../../helpers/jupyter.js";
import { HF_MODEL, LLAMA2C_MODEL, LLAMA2C_TOKENIZER, STORY, assertClose } from "./helpers.js";

let llama2c: LlamaModel;
let hf: LlamaModel;
let tokenizer: Tokenizer;
const ids = (values: number[][]) => tf.tensor2d(values, [values.length, values[0]!.length], "int32");

before(async () => {
  await resolveBackend();
  llama2c = await loadModel(LLAMA2C_MODEL);
  hf = await loadModel(HF_MODEL);
  tokenizer = await loadTokenizer(LLAMA2C_TOKENIZER);
});
after(() => {
  llama2c.dispose();
  hf.dispose();
});

test("both formats load with the same config and the Hugging Face module map", () => {
  assert.deepEqual(llama2c.config, hf.config);
  assert.equal(hf.config.numKvHeads, 4);
  const paths = [...hf.linears().keys()];
  assert.equal(paths.length, 5 * 7);
  assert.equal(paths[0], "model.layers.0.self_attn.q_proj");
  assert.ok(paths.includes("model.layers.4.mlp.down_proj"));
  assert.ok(!paths.includes("lm_head"), "tied head is the embedding");
});

test("greedy from BOS writes the published story, identically in both formats", async () => {
  const a = await llama2c.generate([tokenizer.bosId], { maxNewTokens: 30, temperature: 0 });
  const b = await hf.generate([tokenizer.bosId], { maxNewTokens: 30, temperature: 0 });
  assert.deepEqual(a.ids, b.ids);
  const text = tokenizer.decode(a.ids);
  assert.ok(text.startsWith(STORY), `got ${JSON.stringify(text)}`);
  // The tokenizer encodes the story back to the model's own tokens (run.c's encoder).
  assert.deepEqual(tokenizer.encode(STORY).slice(1), a.ids.slice(0, tokenizer.encode(STORY).length - 1));
});

test("both formats give logits within 1e-4 over a batch", () => {
  const input = ids([tokenizer.encode("Once upon a time, there was a big dog."), tokenizer.encode("The cat sat on the mat and looked at.")].map((r) => r.slice(0, 10)));
  const [la, lb] = [llama2c.forward(input), hf.forward(input)];
  assert.deepEqual(la.shape, [2, 10, 512]);
  assertClose(la.dataSync(), lb.dataSync(), 1e-4, "logits");
  tf.dispose([input, la, lb]);
});

test("a batch row equals the same sequence run alone", () => {
  const rows = [tokenizer.encode("Tom had a red ball."), tokenizer.encode("Sue went to the shop.")].map((r) => r.slice(0, 6));
  const batched = hf.forward(ids(rows));
  const alone = hf.forward(ids([rows[1]!]));
  // Within float32 rounding of logits near 10: a GEMM may block (and so sum) a 12-row product differently from a 6-row one.
  assertClose(tf.slice(batched, [1, 0, 0], [1, -1, -1]).dataSync(), alone.dataSync(), 5e-5, "row 1");
  tf.dispose([batched, alone]);
});

test("the KV-cache path equals the full forward at every position", () => {
  const prompt = tokenizer.encode("Once upon a time, Lily saw a bird in the sky.");
  const full = hf.forward(ids([prompt])); // [1, T, V]
  const cache = hf.createCache();
  const prefill = 4;
  const steps: tf.Tensor[] = [hf.decodeStep(ids([prompt.slice(0, prefill)]), cache)];
  for (let t = prefill; t < prompt.length; t++) steps.push(hf.decodeStep(ids([[prompt[t]!]]), cache));
  assert.equal(cache.length, prompt.length);
  const cached = tf.concat(steps, 0); // [T - prefill + 1, V]
  const wanted = tf.reshape(tf.slice(full, [0, prefill - 1, 0], [1, -1, -1]), [-1, 512]);
  assertClose(cached.dataSync(), wanted.dataSync(), 1e-4, "cached vs full logits");
  cache.dispose();
  tf.dispose([full, cached, wanted, ...steps]);
});

test("generate leaks no tensors; a seed reproduces a sampled run and streams every token", async () => {
  const before = tf.memory().numTensors;
  const streamed: number[] = [];
  const options = { maxNewTokens: 25, temperature: 0.9, topK: 40, topP: 0.95, seed: 1234 };
  const first = await hf.generate([1], { ...options, onToken: (id) => void streamed.push(id) });
  const second = await hf.generate([1], options);
  assert.equal(tf.memory().numTensors, before, "tensors left behind by generate");
  assert.deepEqual(first.ids, second.ids);
  assert.deepEqual(streamed, first.ids);
  assert.equal(first.seed, 1234);
  const other = await hf.generate([1], { ...options, seed: 99 });
  assert.notDeepEqual(other.ids, first.ids);
});

test("generation stops at EOS, at maxNewTokens, and at the context length", async () => {
  const long = await hf.generate([1], { maxNewTokens: 400, temperature: 0 });
  assert.equal(long.stoppedBy, "eos"); // the story ends with BOS, which starts the next one
  assert.ok(long.ids.length > 30 && !long.ids.includes(hf.config.bosTokenId));
  const onlyEos = await hf.generate([1], { maxNewTokens: long.ids.length + 2, temperature: 0, eosTokenId: 2 });
  assert.ok(onlyEos.ids.includes(1), "without BOS as a stop id the model runs on into the next story");
  const short = await hf.generate([1], { maxNewTokens: 3 });
  assert.equal(short.ids.length, 3);
  assert.equal(short.stoppedBy, "max_new_tokens");
  const filled = await hf.generate(new Array(510).fill(400), { maxNewTokens: 10, eosTokenId: null });
  assert.equal(filled.stoppedBy, "context_length");
  assert.equal(filled.ids.length, 2);
});

test("the loss mask counts only masked-in positions (mean of their -log p)", () => {
  const seq = tokenizer.encode("Once upon a time, there was a cat.");
  const input = ids([seq.slice(0, -1)]);
  const targets = ids([seq.slice(1)]);
  const T = seq.length - 1;
  const maskValues = Array.from({ length: T }, (_, t) => (t >= 4 ? 1 : 0)); // prompt positions ignored
  const mask = tf.tensor2d(maskValues, [1, T]);
  const loss = hf.loss(input, targets, mask).dataSync()[0]!;
  const logp = tf.logSoftmax(hf.forward(input)).arraySync() as number[][][];
  let sum = 0;
  for (let t = 4; t < T; t++) sum -= logp[0]![t]![seq[t + 1]!]!;
  assertClose([loss], [sum / (T - 4)], 1e-5, "masked loss");
  const all = hf.loss(input, targets, tf.onesLike(mask)).dataSync()[0]!;
  assert.ok(Math.abs(all - loss) > 1e-3, "the mask changes the loss");
});

test("setLinear swaps one projection (checked shapes) and returns the old one", () => {
  const path = "model.layers.0.mlp.down_proj";
  const input = ids([[1, 403, 407]]);
  const base = hf.forward(input);
  const old = hf.setLinear(path, new DenseLinear(tf.zeros([64, 172]) as tf.Tensor2D, { name: path }));
  const changed = hf.forward(input);
  assert.ok(tf.max(tf.abs(tf.sub(base, changed))).dataSync()[0]! > 1e-3);
  assert.throws(() => hf.setLinear(path, new DenseLinear(tf.zeros([64, 64]) as tf.Tensor2D, { name: path })), TensorError);
  hf.setLinear(path, old).dispose();
  const restored = hf.forward(input);
  assertClose(restored.dataSync(), base.dataSync(), 0, "restored");
  tf.dispose([input, base, changed, restored]);
});

test("out-of-range and non-int32 token ids are refused with a clear error", async () => {
  const bad = tf.tensor2d([[1, 512]], [1, 2], "int32");
  assert.throws(() => hf.forward(bad), (e: Error) => e instanceof InvalidArgumentError && /\[0, 512\).*512/.test(e.message));
  assert.throws(() => hf.forward(tf.tensor2d([[1, 2]])), TensorError);
  await assert.rejects(hf.generate([1, -3]), InvalidArgumentError);
  bad.dispose();
});

test("full pretraining on the active backend: every weight (embeddings too) gets a gradient and SGD lowers the loss", () => {
  const model = initLlamaModel(llamaConfig({ vocabSize: 32, hiddenSize: 16, intermediateSize: 24, numLayers: 2, numHeads: 4, numKvHeads: 2, maxPositionEmbeddings: 16 }), { trainable: "all", seed: 3 });
  const named = model.trainableVariables();
  assert.equal(named.length, 1 + 2 * 2 + 1 + 2 * 7 + 1);
  assert.ok(named.some((n) => n.name === "model.embed_tokens.weight"));
  assert.ok(named.some((n) => n.name === "lm_head.weight"), "untied head");
  const seq = Array.from({ length: 13 }, (_, i) => (i * 5) % 32);
  const input = ids([seq.slice(0, -1), seq.slice(1)]);
  const targets = ids([seq.slice(1), [...seq.slice(2), 0]]);
  const mask = tf.ones([2, 12]) as tf.Tensor2D;
  const before = tf.memory().numTensors;
  const losses: number[] = [];
  for (let step = 0; step < 15; step++) {
    const { value, grads } = tf.variableGrads(() => model.loss(input, targets, mask), named.map((n) => n.variable));
    losses.push(value.dataSync()[0]!);
    for (const n of named) {
      const g = grads[n.variable.name]!;
      const size = step === 0 ? tf.tidy(() => tf.sum(tf.abs(g)).dataSync()[0]!) : 1;
      assert.ok(Number.isFinite(size) && size > 0, `${n.name} has a gradient`);
      tf.tidy(() => n.variable.assign(tf.sub(n.variable, tf.mul(g, 0.5))));
    }
    tf.dispose([value, ...Object.values(grads)]);
  }
  assert.ok(losses.at(-1)! < losses[0]! - 0.5, `loss ${losses[0]} -> ${losses.at(-1)}`);
  assert.ok(tf.memory().numTensors - before <= 0, "no tensors leak per training step");
  tf.dispose([input, targets, mask]);
  model.dispose();
});

test("logits, masked loss and gradients match a PyTorch forward of the HF checkpoint", { skip: skipUnlessPythonModules("torch", "numpy") }, async () => {
  const seqs = [tokenizer.encode("Once upon a time, there was a big dog named Max."), tokenizer.encode("Lily and Tom went to the park to play with a ball.")].map((r) => r.slice(0, 12));
  const input = seqs.map((r) => r.slice(0, -1));
  const targets = seqs.map((r) => r.slice(1));
  const mask = input.map((r) => r.map((_, t) => (t >= 3 ? 1 : 0)));
  const gradNames = ["model.embed_tokens.weight", "model.layers.1.self_attn.q_proj.weight", "model.layers.4.mlp.down_proj.weight", "model.layers.2.input_layernorm.weight"];
  const request = JSON.stringify({ model_dir: HF_MODEL, ids: input, targets, mask, grads: gradNames });
  const run = spawnSync(jupyterPython, [new URL("./llama_reference.py", import.meta.url).pathname], { input: request, encoding: "utf8", maxBuffer: 1 << 28 });
  assert.equal(run.status, 0, run.stderr);
  const reference = JSON.parse(run.stdout) as { logits: number[]; loss: number; grads: Record<string, number[]> };

  const model = await loadModel(HF_MODEL, { trainable: "all" });
  const logits = model.forward(ids(input));
  assertClose(logits.dataSync(), reference.logits, 1e-4, "logits vs PyTorch");
  const named = new Map(model.trainableVariables().map((n) => [n.name, n.variable]));
  const { value, grads } = tf.variableGrads(() => model.loss(ids(input), ids(targets), tf.tensor2d(mask) as tf.Tensor2D), gradNames.map((n) => named.get(n)!));
  assertClose([value.dataSync()[0]!], [reference.loss], 1e-5, "loss vs PyTorch");
  for (const name of gradNames) assertClose(grads[named.get(name)!.name]!.dataSync(), reference.grads[name]!, 1e-5, `gradient of ${name}`);
  tf.dispose([logits, value, ...Object.values(grads)]);
  model.dispose();
});

test("LoRA on a frozen base: logits, loss and every A and B gradient match PyTorch with PEFT's forward", { skip: skipUnlessPythonModules("torch", "numpy") }, async () => {
  const seqs = [tokenizer.encode("Once upon a time, there was a big dog named Max."), tokenizer.encode("Lily and Tom went to the park to play with a ball.")].map((r) => r.slice(0, 12));
  const input = seqs.map((r) => r.slice(0, -1));
  const targets = seqs.map((r) => r.slice(1));
  const mask = input.map((r) => r.map((_, t) => (t >= 3 ? 1 : 0)));
  const base = await loadModel(HF_MODEL);
  // init_lora_weights false: B is not zero, so A's gradient is not zero either; every projection adapted.
  const lora = toLoraModel(base, { r: 4, lora_alpha: 8, target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], init_lora_weights: false }, { seed: 5 });
  try {
    const adapters: Record<string, { a: number[]; b: number[]; r: number; scaling: number }> = {};
    for (const [path, layer] of lora.loraLayers()) {
      const adapter = layer.adapters.get("default")!;
      adapters[path] = { a: Array.from(adapter.loraA.dataSync()), b: Array.from(adapter.loraB.dataSync()), r: adapter.r, scaling: adapter.scaling };
    }
    const named = lora.trainableVariables().map(({ name, variable }) => ({ name: name.slice(PEFT_PREFIX.length), variable })); // "model.layers.0...lora_A.weight"
    assert.equal(named.length, 2 * 7 * base.config.numLayers);
    const request = JSON.stringify({ model_dir: HF_MODEL, ids: input, targets, mask, lora: adapters, grads: named.map((n) => n.name) });
    const run = spawnSync(jupyterPython, [new URL("./llama_reference.py", import.meta.url).pathname], { input: request, encoding: "utf8", maxBuffer: 1 << 28 });
    assert.equal(run.status, 0, run.stderr);
    const reference = JSON.parse(run.stdout) as { logits: number[]; loss: number; grads: Record<string, number[]> };
    const logits = lora.forward(ids(input));
    assertClose(logits.dataSync(), reference.logits, 1e-4, "logits vs PyTorch");
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => lora.loss(ids(input), ids(targets), tf.tensor2d(mask) as tf.Tensor2D), named.map((n) => n.variable));
    assertClose([value.dataSync()[0]!], [reference.loss], 1e-5, "loss vs PyTorch");
    // float32 through five blocks (the float32 reference itself differs by up to 1e-5 of a gradient's scale):
    // each gradient within 2e-5 of its largest magnitude, or of 1.
    for (const { name, variable } of named) {
      const wanted = reference.grads[name]!;
      const scale = wanted.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
      assertClose(grads[variable.name]!.dataSync(), wanted, 2e-5 * scale, `gradient of ${name}`);
    }
    tf.dispose([value, ...Object.values(grads)]);
    assert.equal(tf.memory().numTensors, before, "the backward keeps nothing once the gradients are disposed");
    logits.dispose();
  } finally {
    lora.dispose();
  }
});
