import { test } from "node:test";
import assert from "node:assert/strict";
import { defaultLoraConfig, loraScaling, rankAndAlphaFor, validateLoraConfig } from "../../../lib/lora/config.js";
import { isTargetModule, layerIndexOf, selectTargetModules } from "../../../lib/lora/target_modules.js";
import { initLoraValues, moduleSeed } from "../../../lib/lora/init.js";
import { InvalidArgumentError } from "../../../lib/errors.js";

// Module paths of a 2-layer LLaMA with an untied head.
const PATHS = [0, 1].flatMap((l) => ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"].map((m) => `model.layers.${l}.${m}`)).concat(["lm_head"]);

test("defaults are PEFT's LoraConfig() defaults", () => {
  const c = validateLoraConfig({});
  assert.equal(c.r, 8);
  assert.equal(c.lora_alpha, 8);
  assert.equal(c.lora_dropout, 0);
  assert.equal(c.target_modules, null);
  assert.equal(c.bias, "none");
  assert.equal(c.use_rslora, false);
  assert.equal(c.init_lora_weights, true);
  assert.deepEqual(c.rank_pattern, {});
  assert.deepEqual(defaultLoraConfig.alpha_pattern, {});
  // null target_modules resolves as PEFT does for llama: q_proj and v_proj.
  assert.deepEqual(selectTargetModules(PATHS, c), ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj", "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"]);
});

test("validation errors name the field and the allowed values", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ r: 0 }, /expected r to be a positive integer, got 0/],
    [{ r: 2.5 }, /expected r to be a positive integer, got 2.5/],
    [{ lora_dropout: 1 }, /expected lora_dropout in \[0, 1\), got 1/],
    [{ bias: "all" }, /expected bias to be "none", got "all"/],
    [{ init_lora_weights: "olora" }, /init_lora_weights to be true .* "gaussian" .* "pissa", "pissa_niter_N" .* or "loftq", got "olora"/],
    [{ target_modules: 5 }, /target_modules to be null, "all-linear", a list of module names or suffixes .*got 5/],
    [{ target_modules: "q_proj(" }, /target_modules to be a valid regular expression/],
    [{ rank: 8 }, /expected only LoraConfig fields \(r, lora_alpha, .*got "rank"/],
    [{ use_dora: true }, /expected use_dora to be false, got true\. DoRA is not implemented/],
    [{ layers_to_transform: [-1] }, /layers_to_transform to be null, a layer index, or a list/],
    [{ rank_pattern: { q_proj: 0 } }, /rank_pattern\["q_proj"\] to be a positive integer, got 0/],
    [{ task_type: "SEQ_CLS" }, /task_type "CAUSAL_LM"/],
  ];
  for (const [input, message] of cases) {
    assert.throws(() => validateLoraConfig(input), (e: Error) => e instanceof InvalidArgumentError && message.test(e.message), JSON.stringify(input));
  }
  // Reading a PEFT file ignores unknown keys and accepts neutral values of unsupported features.
  const loaded = validateLoraConfig({ r: 4, megatron_core: "megatron.core", use_dora: false, loftq_config: {}, peft_type: "LORA", something_new: 1 }, { allowUnknownKeys: true, forLoading: true });
  assert.equal(loaded.r, 4);
});

test("scaling is alpha / r, or alpha / sqrt(r) with rsLoRA; patterns override rank and alpha per module", () => {
  assert.equal(loraScaling(16, 32, false), 2);
  assert.equal(loraScaling(16, 32, true), 8);
  const c = validateLoraConfig({ r: 8, lora_alpha: 16, rank_pattern: { "layers\\.1\\.self_attn\\.q_proj": 4, down_proj: 2 }, alpha_pattern: { v_proj: 3 } });
  assert.deepEqual(rankAndAlphaFor(c, "model.layers.1.self_attn.q_proj"), { r: 4, alpha: 16 });
  assert.deepEqual(rankAndAlphaFor(c, "model.layers.0.self_attn.q_proj"), { r: 8, alpha: 16 });
  assert.deepEqual(rankAndAlphaFor(c, "model.layers.0.mlp.down_proj"), { r: 2, alpha: 16 });
  assert.deepEqual(rankAndAlphaFor(c, "model.layers.0.self_attn.v_proj"), { r: 8, alpha: 3 });
});

test("target modules: suffixes, full paths, full-match regex, all-linear, exclusions, layer indices", () => {
  const pick = (cfg: Record<string, unknown>) => selectTargetModules(PATHS, validateLoraConfig(cfg));
  assert.equal(pick({ target_modules: ["q_proj"] }).length, 2);
  // "proj" is not a suffix component of "q_proj": PEFT matches whole dotted components.
  assert.throws(() => pick({ target_modules: ["proj"] }), /expected target_modules \["proj"\] to match at least one linear, got no match\. The model's linears are named q_proj, k_proj/);
  assert.deepEqual(pick({ target_modules: ["model.layers.1.mlp.up_proj"] }), ["model.layers.1.mlp.up_proj"]);
  // A regex must match the whole path.
  assert.deepEqual(pick({ target_modules: ".*\\.1\\..*(q|v)_proj" }), ["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"]);
  assert.throws(() => pick({ target_modules: "q_proj" }), /to match at least one linear/);
  const all = pick({ target_modules: "all-linear" });
  assert.equal(all.length, 14);
  assert.ok(!all.includes("lm_head"), "all-linear leaves the output head alone");
  assert.equal(pick({ target_modules: "all-linear", exclude_modules: ["down_proj", "model.layers.0.mlp.up_proj"] }).length, 11);
  assert.equal(pick({ target_modules: "all-linear", exclude_modules: ".*mlp.*" }).length, 8);
  assert.deepEqual(pick({ target_modules: ["q_proj", "v_proj"], layers_to_transform: [1] }), ["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"]);
  assert.deepEqual(pick({ target_modules: ["q_proj"], layers_to_transform: 0, layers_pattern: "layers" }), ["model.layers.0.self_attn.q_proj"]);
  assert.throws(() => pick({ target_modules: ".*q_proj", layers_to_transform: [0] }), /layers_to_transform to be null when target_modules is a regex/);
  assert.equal(layerIndexOf("model.layers.12.mlp.up_proj"), 12);
  assert.equal(layerIndexOf("lm_head"), undefined);
  assert.equal(isTargetModule("lm_head", validateLoraConfig({ target_modules: ["lm_head"] })), true, "an explicit list may name the head");
});

test("initialisation: kaiming-uniform A within 1/sqrt(in), B = 0, gaussian A with std 1/r, false gives non-zero B, seeded", () => {
  const r = 4, inF = 256, outF = 64;
  const { a, b } = initLoraValues(true, r, inF, outF, 7);
  const bound = 1 / Math.sqrt(inF);
  assert.ok(a.every((v) => Math.abs(v) <= bound));
  assert.ok(Math.max(...a.map(Math.abs)) > 0.9 * bound, "spans the range");
  assert.ok(b.every((v) => v === 0));
  const again = initLoraValues(true, r, inF, outF, 7);
  assert.deepEqual(again.a, a, "same seed, same values");
  assert.notDeepEqual(initLoraValues(true, r, inF, outF, 8).a, a);
  const g = initLoraValues("gaussian", r, inF, outF, 3).a;
  const std = Math.sqrt(g.reduce((s, v) => s + v * v, 0) / g.length);
  assert.ok(Math.abs(std - 1 / r) < 0.02, `gaussian std ${std} should be about ${1 / r}`);
  const f = initLoraValues(false, r, inF, outF, 3);
  assert.ok(f.b.some((v) => v !== 0) && f.b.every((v) => Math.abs(v) <= 1 / Math.sqrt(r)));
  assert.notEqual(moduleSeed(0, "default", "a.q_proj"), moduleSeed(0, "default", "a.v_proj"));
});
