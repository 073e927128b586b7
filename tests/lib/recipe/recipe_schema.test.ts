// Every kind of recipe error, each with its message: unknown keys (with a suggestion), wrong types,
// values out of range, missing files, conflicting keys, PEFT's own LoRA rules, and --set overrides;
// all problems of a recipe come in one error, by key path, before anything is loaded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidArgumentError } from "../../../lib/errors.js";
import { applyOverrides, readRecipeFile, validateRecipe } from "../../../lib/recipe/index.js";
import { HF_MODEL } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "qlora-recipe-schema-"));
const trainFile = join(dir, "train.jsonl");
writeFileSync(trainFile, '{"prompt": "a", "response": "b"}\n');
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A recipe that passes; each test breaks one thing. */
function good(): Record<string, any> {
  return { model: { path: HF_MODEL }, method: "lora", data: { train: "train.jsonl" }, training: { steps: 3 }, output: "out" };
}

/** The problem lines of the error validateRecipe throws for `raw`. */
function problems(raw: unknown): string[] {
  try {
    validateRecipe(raw, { baseDir: dir, source: "r.yaml" });
  } catch (error) {
    assert.ok(error instanceof InvalidArgumentError, String(error));
    const [head, ...lines] = error.message.split("\n");
    assert.match(head!, /^r\.yaml: the recipe has (1 problem|\d+ problems) \(nothing was loaded\):$/);
    return lines.map((l) => l.trim());
  }
  assert.fail("the recipe was accepted");
}

function withChange(change: (r: Record<string, any>) => void): Record<string, any> {
  const r = good();
  change(r);
  return r;
}

test("a good recipe resolves with defaults and absolute paths", () => {
  const r = validateRecipe(good(), { baseDir: dir });
  assert.equal(r.data.train, trainFile);
  assert.equal(r.output, join(dir, "out"));
  assert.deepEqual([r.method, r.baseDtype, r.data.seqLen, r.data.shuffle, r.training.batchSize, r.training.maxGradNorm, r.optimizer.lr, r.optimizer.eps, r.schedule.kind], ["lora", "f32", 128, true, 8, 0.3, 2e-4, 1e-8, "constant"]);
  assert.equal(validateRecipe(withChange((x) => (x.training.max_grad_norm = null)), { baseDir: dir }).training.maxGradNorm, null, "null turns clipping off");
});

test("unknown keys, at the top and in a section, are named with the keys allowed and a near match", () => {
  assert.deepEqual(problems(withChange((r) => (r.lora = { r: 8, lora_alpa: 16 }))), [
    "lora.lora_alpa: expected one of the keys of lora (r, lora_alpha, lora_dropout, target_modules, use_rslora, init_lora_weights, loftq_config, rank_pattern, alpha_pattern, exclude_modules, layers_to_transform, layers_pattern), got an unknown key (did you mean lora_alpha?)",
  ]);
  assert.deepEqual(problems(withChange((r) => (r.gradient_checkpointing = true))), [
    "gradient_checkpointing: expected one of the keys (model, method, base_dtype, quant, lora, data, training, optimizer, schedule, eval, save, output, run_name, budget), got an unknown key (did you mean training.gradient_checkpointing?)",
  ]);
});

test("wrong types and values out of range name the key, what it takes and what it got", () => {
  assert.deepEqual(problems(withChange((r) => (r.optimizer = { lr: "fast" }))), ['optimizer.lr: expected a positive number, got "fast"']);
  assert.deepEqual(problems(withChange((r) => (r.training.steps = 2.5))), ["training.steps: expected a positive integer, got 2.5"]);
  assert.deepEqual(problems(withChange((r) => (r.data.seq_len = 1))), ["data.seq_len: expected an integer >= 2, got 1"]);
  assert.deepEqual(problems(withChange((r) => (r.data.shuffle = "no"))), ['data.shuffle: expected true or false, got "no"']);
  assert.deepEqual(problems(withChange((r) => (r.method = "full"))), ['method: expected one of "lora", "qlora", got "full"']);
  assert.deepEqual(problems(withChange((r) => (r.optimizer = { betas: [0.9] }))), ["optimizer.betas: expected two numbers in [0, 1), e.g. [0.9, 0.999], got [0.9]"]);
  assert.deepEqual(problems(withChange((r) => (r.schedule = { warmup_ratio: 2 }))), ["schedule.warmup_ratio: expected a number >= 0 and <= 1, got 2"]);
  assert.deepEqual(problems(withChange((r) => (r.data.eval_fraction = 1))), ["data.eval_fraction: expected a number > 0 and < 1, got 1"]);
  assert.deepEqual(problems(withChange((r) => (r.training = 5))), ["training: expected a mapping of keys, got 5", "training.steps: expected a positive integer (optimizer steps to run), got nothing"]);
  assert.deepEqual(problems(withChange((r) => ((r.method = "qlora"), (r.quant = { blocksize: 100 })))), ["quant.blocksize: expected one of 64, 128, 256, 512, 1024, 2048, 4096 (bitsandbytes' block sizes), got 100"]);
});

test("PEFT's own LoRA rules apply, under lora.<field>", () => {
  assert.deepEqual(problems(withChange((r) => (r.lora = { r: 0 }))), ["lora.r: expected r to be a positive integer, got 0. Typical ranks are 4 to 64"]);
  assert.deepEqual(problems(withChange((r) => (r.lora = { lora_dropout: 1 }))), ["lora.lora_dropout: expected lora_dropout in [0, 1), got 1"]);
  const [init] = problems(withChange((r) => (r.lora = { init_lora_weights: "olora" })));
  assert.match(init!, /^lora\.init_lora_weights: expected init_lora_weights to be true .*, got "olora"\. OLoRA, EVA and CorDA initialisations are not implemented$/);
});

test("missing files and folders are refused with the path looked at", () => {
  assert.deepEqual(problems(withChange((r) => (r.data.train = "nope.jsonl"))), [`data.train: expected a data file, got nothing at ${join(dir, "nope.jsonl")}`]);
  assert.deepEqual(problems(withChange((r) => (r.data.train = "."))), [`data.train: expected a data file, got a folder at ${dir}`]);
  assert.deepEqual(problems(withChange((r) => (r.model.path = "no-model"))), [`model.path: expected a Hugging Face model folder or a llama2.c .bin file, got nothing at ${join(dir, "no-model")}`]);
  assert.deepEqual(problems(withChange((r) => (r.model.tokenizer = "tok.bin"))), [`model.tokenizer: expected a tokenizer file (tokenizer.json or a llama2.c tokenizer .bin), got nothing at ${join(dir, "tok.bin")}`]);
  assert.deepEqual(problems(withChange((r) => (r.output = "train.jsonl"))), [`output: expected a folder (or nothing yet), got a file at ${trainFile}`]);
});

test("required keys that are missing are listed", () => {
  assert.deepEqual(problems({ method: "lora" }), [
    "model: expected a model section (model.path or model.preset), got nothing",
    "data.train: expected a training data file (.jsonl, .csv, .txt, or pre-tokenized .jsonl), got nothing",
    "training.steps: expected a positive integer (optimizer steps to run), got nothing",
    "output: expected an output folder, got nothing",
  ]);
  assert.deepEqual(problems(withChange((r) => (r.model = {}))), ["model: expected model.path or model.preset, got neither"]);
  assert.throws(() => validateRecipe([1, 2], { source: "r.yaml" }), { message: "r.yaml: expected a recipe: a mapping with model, data, training and output, got [1, 2]." });
});

test("keys that conflict, or need another key, are refused", () => {
  assert.deepEqual(problems(withChange((r) => (r.model.preset = "7b"))), ["model: expected model.path or model.preset, not both, got both"]);
  assert.match(problems(withChange((r) => (r.model = { preset: "llama-9b" })))[0]!, /^model\.preset: expected a known preset \(smollm2-135m, .*\), got "llama-9b"$/);
  assert.deepEqual(problems(withChange((r) => (r.quant = { quant_type: "nf4" }))), ["quant: expected quant only with method qlora, got a quant section with method lora"]);
  assert.deepEqual(problems(withChange((r) => ((r.method = "qlora"), (r.base_dtype = "bf16")))), ['base_dtype: expected base_dtype only with method lora (a qlora base is 4-bit: set quant.quant_type), got "bf16"']);
  assert.deepEqual(problems(withChange((r) => ((r.data.eval = "train.jsonl"), (r.data.eval_fraction = 0.1)))), ["data: expected data.eval or data.eval_fraction, not both, got both"]);
  assert.deepEqual(problems(withChange((r) => ((r.data.format = "tokenized"), (r.data.packing = true)))), ["data.packing: expected false for pre-tokenized rows (they are used as they are), got true"]);
  assert.deepEqual(problems(withChange((r) => (r.eval = { every: 10 }))), ["eval.every: expected an eval set (data.eval or data.eval_fraction) to evaluate on, got 10"]);
  assert.deepEqual(problems(withChange((r) => (r.schedule = { warmup_ratio: 0.1, warmup_steps: 3 }))), ["schedule: expected schedule.warmup_ratio or schedule.warmup_steps, not both, got both"]);
  assert.deepEqual(problems(withChange((r) => (r.optimizer = { state: "paged" }))), ['optimizer.state_budget_bytes: expected bytes of optimizer state kept resident (state "paged" pages the rest), got nothing']);
  assert.deepEqual(problems(withChange((r) => (r.optimizer = { state_budget_bytes: 4096 }))), ['optimizer.state: expected "paged" or "paged-8bit" with state_budget_bytes or page_bytes, got "resident"']);
  assert.deepEqual(problems(withChange((r) => (r.optimizer = { name: "sgd" }))), ['optimizer.name: expected "adamw", got "sgd"']);
});

test("every problem of a recipe is listed in one error", () => {
  const lines = problems(withChange((r) => {
    r.optimizer = { lr: "fast" };
    r.data.train = "nope.jsonl";
    r.lora = { rr: 8 };
    r.training.steps = 0;
  }));
  assert.deepEqual(lines.map((l) => l.split(":")[0]), ["lora.rr", "data.train", "training.steps", "optimizer.lr"]);
});

test("--set overrides: dotted paths, YAML values, sections made as needed, and malformed ones refused", () => {
  const raw = applyOverrides(good(), ["optimizer.lr=1e-3", "lora.target_modules=[q_proj, v_proj]", "data.shuffle=false", "training.max_grad_norm=null", "run_name=a=b"]) as Record<string, any>;
  assert.equal(raw.optimizer.lr, 1e-3);
  assert.deepEqual(raw.lora.target_modules, ["q_proj", "v_proj"]);
  assert.equal(raw.data.shuffle, false);
  assert.equal(raw.training.max_grad_norm, null);
  assert.equal(raw.run_name, "a=b");
  assert.deepEqual(problems(applyOverrides(good(), ["optimizer.lr=fast"])), ['optimizer.lr: expected a positive number, got "fast"']);
  assert.deepEqual(problems(applyOverrides(good(), ["optimizer.lrr=1"])).map((l) => l.split(",")[0]), ["optimizer.lrr: expected one of the keys of optimizer (name"]);
  assert.throws(() => applyOverrides(good(), ["lr"]), { message: '--set: expected key.path=value (e.g. optimizer.lr=1e-3), got "lr".' });
  assert.throws(() => applyOverrides(good(), ["training..steps=3"]), { message: '--set: expected key.path=value (e.g. optimizer.lr=1e-3), got "training..steps=3".' });
  assert.throws(() => applyOverrides(good(), ["method.kind=lora"]), { message: '--set: expected method.kind inside a section, got method is "lora", not a section.' });
});

test("recipe files: YAML and JSON by extension, with parse errors and wrong names refused", () => {
  const yamlPath = join(dir, "r.yaml");
  writeFileSync(yamlPath, "model:\n  path: x\ntraining:\n  steps: 3 # comment\noptimizer:\n  lr: 1e-3\n");
  assert.deepEqual(readRecipeFile(yamlPath), { model: { path: "x" }, training: { steps: 3 }, optimizer: { lr: 1e-3 } });
  writeFileSync(join(dir, "r.json"), '{"training": {"steps": 3}}');
  assert.deepEqual(readRecipeFile(join(dir, "r.json")), { training: { steps: 3 } });
  writeFileSync(join(dir, "bad.yaml"), "model: [\n");
  assert.throws(() => readRecipeFile(join(dir, "bad.yaml")), (e: Error) => e.message.startsWith(`${join(dir, "bad.yaml")}: expected valid YAML, got `) && !e.message.includes("\n"));
  writeFileSync(join(dir, "bad.json"), "{");
  assert.throws(() => readRecipeFile(join(dir, "bad.json")), (e: Error) => e.message.startsWith(`${join(dir, "bad.json")}: expected valid JSON, got `));
  assert.throws(() => readRecipeFile(join(dir, "r.toml")), { message: `readRecipe: expected a recipe file ending in .yaml, .yml or .json, got ${join(dir, "r.toml")}.` });
  assert.throws(() => readRecipeFile(join(dir, "none.yaml")), { message: `readRecipe: expected a recipe file at ${join(dir, "none.yaml")}, got no such file.` });
  mkdirSync(join(dir, "folder.yaml"));
  assert.throws(() => readRecipeFile(join(dir, "folder.yaml")), { message: `readRecipe: expected a recipe file at ${join(dir, "folder.yaml")}, got a folder.` });
});

test("training.gradient_checkpointing is a boolean and budget a size; both are read", () => {
  const r = validateRecipe(withChange((x) => ((x.training.gradient_checkpointing = true), (x.budget = "2GiB"))), { baseDir: dir });
  assert.equal(r.training.gradientCheckpointing, true);
  assert.equal(r.budgetBytes, 2 * 2 ** 30);
  assert.equal(validateRecipe(good(), { baseDir: dir }).training.gradientCheckpointing, false);
  assert.deepEqual(problems(withChange((x) => ((x.training.gradient_checkpointing = "yes"), (x.budget = "8G")))), [
    'training.gradient_checkpointing: expected true or false, got "yes"',
    'budget: expected a size such as "8GiB", "512MiB" or "8GB", or a number of bytes, got "8G"',
  ]);
});
