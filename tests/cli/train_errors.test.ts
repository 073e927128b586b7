// `qlora-lab train` refuses what it cannot run with one message and status 1, before the model loads:
// a wrong recipe (every problem by key path), --resume without a checkpoint, a missing --init-adapter,
// text data without a tokenizer, and pre-tokenized rows that do not fit the model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hasStackTrace, runCli, tempDir } from "./cli.js";
import { HF_MODEL, recipeFor, writeRecipe, writeRows } from "../lib/recipe/helpers.js";

const dir = tempDir();
test.after(() => rmSync(dir, { recursive: true, force: true }));
const rows = writeRows(dir);

async function refused(args: string[]): Promise<string> {
  const run = await runCli(["train", ...args], { limitS: 60 });
  assert.equal(run.status, 1, `refused (stdout ${run.stdout}, stderr ${run.stderr})`);
  assert.ok(!hasStackTrace(run.stderr), run.stderr);
  return run.stderr.trim();
}

test("a wrong YAML recipe is refused with every problem by key path, and nothing is written", async () => {
  const path = join(dir, "wrong.yaml");
  writeFileSync(path, `model:\n  path: ${HF_MODEL}\nmethod: lora\ndata:\n  train: missing.jsonl\ntraining:\n  steps: 20\noptimizer:\n  lr: fast\n  warmup: 3\noutput: out-wrong\n`);
  assert.equal(
    await refused([path]),
    [
      `${path}: the recipe has 3 problems (nothing was loaded):`,
      `  data.train: expected a data file, got nothing at ${join(dir, "missing.jsonl")}`,
      `  optimizer.warmup: expected one of the keys of optimizer (name, lr, betas, eps, weight_decay, state, state_budget_bytes, page_bytes), got an unknown key`,
      `  optimizer.lr: expected a positive number, got "fast"`,
    ].join("\n"),
  );
  assert.ok(!existsSync(join(dir, "out-wrong")), "no output folder was made");
  assert.equal(await refused([path, "--set", "optimizer.lr=1e-3", "--set", "data.train=rows.jsonl", "--set", "optimizer.warmup"]), '--set: expected key.path=value (e.g. optimizer.lr=1e-3), got "optimizer.warmup".');
});

test("--check accepts a good recipe after --set overrides, and usage errors are one line", async () => {
  const path = writeRecipe(dir, recipeFor(rows, join(dir, "out-check")), "check.json");
  const run = await runCli(["train", path, "--check", "--set", "training.steps=7"], { limitS: 30 });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), `${path}: the recipe is valid (lora, 7 steps, output ${join(dir, "out-check")})`);
  assert.equal(await refused([]), 'qlora-lab train: expected one recipe file (RECIPE.yaml or RECIPE.json), got none. Run with --help for usage.');
  assert.equal(await refused([path, "--speed"]), "qlora-lab train: expected one of the options --help lists, got --speed.");
});

test("--resume without a checkpoint and a missing --init-adapter are refused before training", async () => {
  const path = writeRecipe(dir, recipeFor(rows, join(dir, "out-resume")), "resume.json");
  assert.equal(await refused([path, "--resume"]), `--resume: expected a checkpoint in ${join(dir, "out-resume", "checkpoints")} (written by an earlier run of this recipe), got none.`);
  assert.match(await refused([path, "--init-adapter", join(dir, "no-adapter")]), new RegExp(`^${join(dir, "no-adapter").replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}.*: expected `));
});

test("a fresh run into a folder with an earlier run's checkpoints needs --overwrite, which removes them", async () => {
  const path = writeRecipe(dir, recipeFor(rows, join(dir, "out-again"), { training: { steps: 2, batch_size: 2 }, save: { every: 1, keep: 5 } }), "again.json");
  const first = await runCli(["train", path], { limitS: 60 });
  assert.equal(first.status, 0, first.stderr);
  assert.ok(existsSync(join(dir, "out-again", "checkpoints", "step-000002")));
  assert.equal(await refused([path]), `output: expected a folder without an earlier run's checkpoints, got checkpoints in ${join(dir, "out-again", "checkpoints")}. Continue that run with --resume, start afresh with --overwrite, or set another output.`);
  assert.equal(await refused([path, "--resume", "--overwrite"]), "trainFromRecipe: expected resume or overwrite, not both, got both.");
  const again = await runCli(["train", path, "--overwrite", "--set", "training.steps=1"], { limitS: 60 });
  assert.equal(again.status, 0, again.stderr);
  assert.ok(existsSync(join(dir, "out-again", "checkpoints", "step-000001")) && !existsSync(join(dir, "out-again", "checkpoints", "step-000002")), "only the new run's checkpoints remain");
});

test("text data without a tokenizer, and pre-tokenized rows that do not fit the model, are refused", async () => {
  const text = join(dir, "text.jsonl");
  writeFileSync(text, '{"text": "Once upon a time"}\n');
  const noTokenizer = recipeFor(text, join(dir, "out-text"));
  delete (noTokenizer.model as Record<string, unknown>).tokenizer;
  assert.equal(await refused([writeRecipe(dir, noTokenizer, "text.json")]), "trainFromRecipe: expected model.tokenizer (none was found beside the model), got nothing. Set model.tokenizer, or give pre-tokenized rows.");
  const big = join(dir, "big.jsonl");
  writeFileSync(big, '{"input_ids": [1, 5, 600]}\n');
  assert.equal(await refused([writeRecipe(dir, recipeFor(big, join(dir, "out-big")), "big.json")]), "data: expected token ids below the model's vocabulary size 512, got 600 in row 1.");
  const torn = join(dir, "torn.jsonl");
  writeFileSync(torn, '{"input_ids": [1, 5, 6]}\n{"input_ids": [1, 5], "labels": [1]}\n');
  assert.equal(await refused([writeRecipe(dir, recipeFor(torn, join(dir, "out-torn")), "torn.json")]), `loadTokenizedJsonl: expected "labels" as long as "input_ids" (2), each -100 or one of the integers >= 0, at ${torn}:2, got 1 labels.`);
});
