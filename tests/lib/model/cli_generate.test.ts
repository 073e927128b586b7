// `qlora-lab generate` end to end through the real entry point.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { HF_MODEL, LLAMA2C_MODEL, LLAMA2C_TOKENIZER, STORY } from "./helpers.js";

const BIN = new URL("../../../bin/qlora-lab.js", import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, "generate", ...args], { encoding: "utf8", env: { ...process.env, QLORA_LAB_BACKEND: "" } });

test("generate prints the story from an llama2.c model (tokenizer found beside it)", () => {
  const run = cli("--model", LLAMA2C_MODEL, "--prompt", "", "--max-new-tokens", "30");
  assert.equal(run.status, 0, run.stderr);
  assert.ok(run.stdout.startsWith(STORY), run.stdout);
});

test("--json reports prompt ids, generated ids, text and tokens/s; a seed reproduces sampling", () => {
  const args = ["--model", HF_MODEL, "--tokenizer", LLAMA2C_TOKENIZER, "--prompt", "Tom had a", "--temperature", "0.8", "--top-p", "0.9", "--top-k", "50", "--seed", "11", "--max-new-tokens", "12", "--json"];
  const [a, b] = [cli(...args), cli(...args)];
  assert.equal(a.status, 0, a.stderr);
  const out = JSON.parse(a.stdout);
  assert.deepEqual(out.promptIds[0], 1);
  assert.equal(out.ids.length, 12);
  assert.ok(out.fullText.startsWith("Tom had a") && out.fullText.endsWith(out.text));
  assert.ok(out.tokensPerSecond > 0);
  assert.deepEqual(JSON.parse(b.stdout).ids, out.ids);
});

test("bad input is one clear line and exit code 1", () => {
  const missing = cli("--model", "/nonexistent", "--prompt", "x");
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nothing at that path/);
  const noTokenizer = cli("--model", HF_MODEL, "--prompt", "x");
  assert.equal(noTokenizer.status, 1);
  assert.match(noTokenizer.stderr, /--tokenizer/);
  const badFlag = cli("--model", HF_MODEL, "--prompt", "x", "--top-k", "two");
  assert.equal(badFlag.status, 1);
  assert.match(badFlag.stderr, /--top-k/);
  const help = cli("--help");
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--max-new-tokens/);
});
