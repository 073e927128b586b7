import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const bin = new URL("../../../bin/qlora-lab.js", import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, "plan", ...args], { encoding: "utf8" });

test("qlora-lab plan prints a table and the GPUs a 7B QLoRA run fits", () => {
  const r = cli("--model", "7b", "--method", "qlora");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /nf4 codes\s+3\.02\s+P_lin \/ 2/);
  assert.match(r.stdout, /Fits: 12 GB yes/);
});

test("qlora-lab plan --json, a config.json path, options, and clear errors", () => {
  const dir = mkdtempSync(join(tmpdir(), "plan-cli-"));
  try {
    const cfg = { hidden_size: 8192, intermediate_size: 28672, num_hidden_layers: 80, num_attention_heads: 64, num_key_value_heads: 8, vocab_size: 32000 };
    writeFileSync(join(dir, "config.json"), JSON.stringify(cfg));
    const r = cli("--model", dir, "--method", "lora", "--optimizer", "paged-8bit", "--r", "8", "--json");
    assert.equal(r.status, 0, r.stderr);
    const plan = JSON.parse(r.stdout);
    assert.equal(plan.setup.r, 8);
    assert.deepEqual(plan.setup.optimizer, { bits: 8, paged: true });
    assert.ok(plan.fits.largestGpusNeeded >= 2);
    const bad = cli("--model", "9b", "--method", "qlora");
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /expected a known model preset \(7b, 13b/);
    assert.match(cli("--model", "7b", "--method", "qlora", "--optimizer", "4bit").stderr, /--optimizer one of 32bit, 8bit, paged-32bit, paged-8bit/);
    assert.match(cli("--model", "7b", "--method", "qlora", "--batch=0").stderr, /--batch to be a positive integer, got 0/);
    assert.equal(cli("--help").status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
