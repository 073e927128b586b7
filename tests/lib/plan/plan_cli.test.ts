import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { planMemory } from "../../../lib/plan/index.js";

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
    assert.match(bad.stderr, /expected a known model preset \(smollm2-135m, .*7b, 13b/);
    assert.match(cli("--model", "7b", "--method", "qlora", "--optimizer", "4bit").stderr, /--optimizer one of 32bit, 8bit, paged-32bit, paged-8bit/);
    assert.match(cli("--model", "7b", "--method", "qlora", "--batch=0").stderr, /--batch to be a positive integer, got 0/);
    assert.equal(cli("--help").status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const repo = new URL("../../../", import.meta.url).pathname;
const TFJS_MODELS = [join(repo, "datasets", "base-model"), join(repo, "..", "shared", "models", "stories260K-hf")];

for (const dir of TFJS_MODELS) {
  test(`qlora-lab plan --runtime tfjs on ${dir.split("/").at(-1)}'s config.json: the library's own run, as planMemory plans it`, { skip: !existsSync(dir) && `${dir} is not present` }, () => {
    const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    for (const method of ["lora", "qlora"] as const) {
      const args = ["--model", dir, "--method", method, "--runtime", "tfjs", "--r", "8", "--batch", "16", "--seq-len", "64"];
      const json = cli(...args, "--json");
      assert.equal(json.status, 0, json.stderr);
      const plan = JSON.parse(json.stdout);
      const expected = planMemory(config, { method, runtime: "tfjs", r: 8, batch: 16, seqLen: 64 });
      assert.equal(plan.totalBytes, expected.totalBytes);
      assert.deepEqual([plan.setup.backend, plan.setup.computeDtype, plan.setup.gradientCheckpointing], ["wasm", "fp32", false]);
      assert.equal(plan.model, dir.split("/").at(-1), "named after the model's folder");
      const text = cli(...args);
      assert.equal(text.status, 0, text.stderr);
      assert.match(text.stdout, /no checkpointing, AdamW 32-bit, compute fp32, TF\.js wasm/);
      assert.match(text.stdout, /component\s+MiB\s+formula/);
      assert.match(text.stdout, new RegExp(`total\\s+${(expected.totalBytes / 2 ** 20).toFixed(2).replace(".", "\\.")}`));
      assert.match(text.stdout, /activations: tensors saved for the backward/);
      assert.doesNotMatch(text.stdout, /CUDA|Fits:/);
    }
    const cpu = cli("--model", dir, "--method", "qlora", "--runtime", "tfjs", "--backend", "cpu", "--json");
    assert.equal(JSON.parse(cpu.stdout).totalBytes, planMemory(config, { method: "qlora", runtime: "tfjs", backend: "cpu" }).totalBytes);
  });
}

test("qlora-lab plan --gradient-checkpointing --runtime tfjs: lib/train's checkpointed run, as planMemory plans it", () => {
  const dir = TFJS_MODELS[0]!;
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  const args = ["--model", dir, "--method", "qlora", "--runtime", "tfjs", "--batch", "16", "--seq-len", "64"];
  const json = cli(...args, "--gradient-checkpointing", "--json");
  assert.equal(json.status, 0, json.stderr);
  const plan = JSON.parse(json.stdout);
  assert.equal(plan.setup.gradientCheckpointing, true);
  assert.equal(plan.totalBytes, planMemory(config, { method: "qlora", runtime: "tfjs", batch: 16, seqLen: 64, gradientCheckpointing: true }).totalBytes);
  assert.ok(plan.totalBytes < planMemory(config, { method: "qlora", runtime: "tfjs", batch: 16, seqLen: 64 }).totalBytes);
  const text = cli(...args, "--gradient-checkpointing");
  assert.match(text.stdout, /gradient checkpointing, AdamW 32-bit, compute fp32, TF\.js wasm/);
  assert.match(text.stdout, /each block recomputed in the backward/);
  const both = cli(...args, "--gradient-checkpointing", "--no-checkpointing");
  assert.equal(both.status, 1);
  assert.match(both.stderr, /qlora-lab plan: expected one of --gradient-checkpointing and --no-checkpointing, got both/);
});

test("qlora-lab plan --runtime tfjs refuses what the library's TF.js training does not do", () => {
  const dir = TFJS_MODELS[0]!;
  const bf16 = cli("--model", dir, "--method", "lora", "--runtime", "tfjs", "--compute-dtype", "bf16");
  assert.equal(bf16.status, 1);
  assert.match(bf16.stderr, /expected computeDtype fp32 for runtime "tfjs", got bf16/);
  assert.match(cli("--model", dir, "--method", "lora", "--backend", "cpu").stderr, /expected backend only with runtime "tfjs", got cpu/);
  assert.match(cli("--model", dir, "--method", "lora", "--runtime", "tfjs", "--backend", "webgl").stderr, /expected backend wasm, cpu, tensorflow, got webgl/);
});
