// `--budget` on `qlora-lab generate` and `qlora-lab compare`, through the real entry point: a run whose
// planned memory is over the budget is refused in one line before the model loads, naming the plan by
// category and what would fit; a budget that does not parse is refused as such; within budget it runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HF_MODEL, LLAMA2C_TOKENIZER } from "../lib/model/helpers.js";
import { runCli } from "./cli.js";

const generate = (...args: string[]) => runCli(["generate", "--model", HF_MODEL, "--tokenizer", LLAMA2C_TOKENIZER, "--prompt", "Once", ...args], { limitS: 60 });

test("generate --budget: over it, refused before loading with the plan and what would fit; within it (4-bit base), it writes", async () => {
  const refused = await generate("--budget", "600KiB", "--max-new-tokens", "64");
  assert.equal(refused.status, 1, refused.stderr);
  const line = refused.stderr.trim();
  assert.ok(!line.includes("\n"), line);
  assert.match(line, /^qlora-lab generate: expected a run that fits the budget of 600 KiB, got .*stories260K-hf, generating 66 tokens \(base in f32\) planned at [\d.]+ (KiB|MiB) \(base_dense [\d.,]+ (KiB|MiB), activations [\d.]+ KiB\)\. Would fit: an NF4 base \(quantize nf4\) \([\d.]+ KiB\).*Nothing was allocated\.$/);
  assert.equal(refused.stdout, "");

  const ok = await generate("--budget", "1GiB", "--quantize", "nf4", "--max-new-tokens", "8", "--json");
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).ids.length, 8);
});

test("generate: a budget that does not parse, and --dtype with --quantize, are refused in one line", async () => {
  const ambiguous = await generate("--budget", "8G");
  assert.equal(ambiguous.status, 1);
  assert.match(ambiguous.stderr, /qlora-lab generate --budget: expected a size such as "8GiB", "512MiB" or "8GB", got "8G"\. "G" alone could mean GiB/);
  const both = await generate("--dtype", "bf16", "--quantize", "nf4");
  assert.equal(both.status, 1);
  assert.match(both.stderr, /qlora-lab generate: expected one of --dtype and --quantize, got --dtype bf16 and --quantize nf4\./);
  const badDtype = await generate("--dtype", "int8");
  assert.equal(badDtype.status, 1);
  assert.match(badDtype.stderr, /--dtype/);
});

test("compare --budget: a run over it is refused before any model loads or trains, and nothing is written", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-compare-budget-"));
  try {
    const run = await runCli(["compare", "--steps", "2", "--budget", "1MiB", "--adapters", join(dir, "adapters")], { limitS: 60 });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /compareLoraQlora \(LoRA run\): expected a run that fits the budget of 1 MiB, got .*base-model, LoRA \(base in bf16\), batch 16 x 128 tokens, AdamW 32-bit planned at [\d.]+ MiB \(activations [\d.]+ MiB, .*\)\. .*Nothing was allocated\./);
    assert.doesNotMatch(run.stdout, /step|eval/);
    assert.ok(!existsSync(join(dir, "adapters")), "no adapters written");
    const bad = await runCli(["compare", "--budget", "lots"], { limitS: 30 });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /qlora-lab compare --budget: expected a size such as "8GiB", "512MiB" or "8GB", got "lots"\./);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
