// `qlora-lab quantize` on the real stories260K-hf checkpoint: the summary, the file it writes, bad
// arguments, and the 4-bit model (QuantizedLinear in every projection) still telling the same story.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { SafetensorsFile } from "../../../lib/io/safetensors.js";
import { loadModel } from "../../../lib/model/load_model.js";
import { bnb4bitWeightNames, openBnb4bitSafetensors, readBnb4bitSafetensors } from "../../../lib/quant/bnb_safetensors.js";
import { QuantizedLinear } from "../../../lib/model/quantized_linear.js";

const model = fileURLToPath(new URL("../../../../shared/models/stories260K-hf", import.meta.url));
const cli = fileURLToPath(new URL("../../../bin/qlora-lab.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "qlora-lab-quantize-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]) {
  return spawnSync(process.execPath, [cli, "quantize", ...args], { encoding: "utf8" });
}

test("quantizes the 35 projection weights of stories260K-hf (NF4 + DQ) and prints the summary", () => {
  const out = join(dir, "nf4.safetensors");
  const result = run(model, "--out", out, "--double-quant");
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /quantized 35 tensors \(226,560 values\) to nf4 \+ double quant, blocksize 64; copied 12 tensors unchanged/);
  assert.match(result.stdout, /bits\/param/);
  assert.match(result.stdout, /mean \|error\| [0-9.]+e-3/);
  const file = SafetensorsFile.open(out);
  const names = bnb4bitWeightNames(file);
  assert.equal(names.length, 35);
  assert.ok(names.every((n) => n.endsWith("_proj.weight")));
  assert.equal(file.entry("model.embed_tokens.weight").dtype, "F32", "embeddings are copied unchanged");
  assert.equal(file.metadata.format, "pt");
  const source = SafetensorsFile.open(join(model, "model.safetensors"));
  const floats = readBnb4bitSafetensors(out);
  assert.deepEqual(floats.get("model.norm.weight")!.values, source.readFloat32("model.norm.weight"));
  const w = floats.get("model.layers.0.self_attn.q_proj.weight")!;
  assert.deepEqual(w.shape, [64, 64]);
  const original = source.readFloat32("model.layers.0.self_attn.q_proj.weight");
  let err = 0;
  for (let i = 0; i < original.length; i++) err += Math.abs(original[i]! - w.values[i]!);
  assert.ok(err / original.length < 0.1 * Math.max(...original.map(Math.abs)), "dequantized weights stay close");
});

test("--include, --quant-type fp4 and --blocksize select and configure what is quantized", () => {
  const out = join(dir, "fp4.safetensors");
  const result = run(join(model, "model.safetensors"), "--out", out, "--quant-type", "fp4", "--blocksize", "128", "--include", "mlp\\.(up|down)_proj\\.weight$");
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /quantized 10 tensors .* to fp4, blocksize 128/);
  const file = SafetensorsFile.open(out);
  const state = JSON.parse(Buffer.from(file.readBytes("model.layers.0.mlp.up_proj.weight.quant_state.bitsandbytes__fp4")).toString());
  assert.deepEqual(state, { quant_type: "fp4", blocksize: 128, dtype: "float32", shape: [172, 64] });
});

test("bad arguments fail with one clear line and exit code 1", () => {
  const cases: Array<[string[], RegExp]> = [
    [[model, "--out", join(dir, "x.safetensors"), "--blocksize", "48"], /blocksize in 32, 64/],
    [[model, "--out", join(dir, "x.safetensors"), "--quant-type", "int4"], /nf4 or fp4/],
    [[model], /--out/],
    [[join(dir, "missing"), "--out", join(dir, "x.safetensors")], /existing \.safetensors file/],
    [[model, "--out", join(dir, "x.safetensors"), "--include", "nothing-matches"], /at least one tensor to quantize/],
    [[model, "--out", join(dir, "x.safetensors"), "--include", "("], /valid regular expression/],
  ];
  for (const [args, message] of cases) {
    const result = run(...args);
    assert.equal(result.status, 1, `${args.join(" ")}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, message);
  }
  assert.equal(run("--help").status, 0);
});

test("the 4-bit model (QuantizedLinear in every projection) still writes the same story greedily", async () => {
  await resolveBackend();
  const out = join(dir, "story.safetensors");
  assert.equal(run(model, "--out", out, "--double-quant").status, 0);
  const dense = await loadModel(model);
  const quantizedModel = await loadModel(model);
  const { quantized } = openBnb4bitSafetensors(out);
  for (const [name, q] of quantized) {
    const path = name.replace(/\.weight$/, "");
    quantizedModel.setLinear(path, new QuantizedLinear(q, { name: path })).dispose();
  }
  const before = tf.memory().numTensors;
  const a = await dense.generate([1], { maxNewTokens: 24, temperature: 0 });
  const b = await quantizedModel.generate([1], { maxNewTokens: 24, temperature: 0 });
  assert.equal(tf.memory().numTensors, before, "generation through QuantizedLinear leaks nothing");
  let same = 0;
  while (same < a.ids.length && a.ids[same] === b.ids[same]) same++;
  assert.ok(same >= 12, `the first ${same} greedy tokens agree (dense ${a.ids.join(",")} vs 4-bit ${b.ids.join(",")})`);
  dense.dispose();
  quantizedModel.dispose();
});

test("quantize killed with SIGKILL at any moment leaves an output that loads (old or new); the next run removes leftovers", { timeout: 60_000 }, async () => {
  const folder = join(dir, "killed");
  const out = join(folder, "out.safetensors");
  const loop = fileURLToPath(new URL("./fixtures/quantize_loop.ts", import.meta.url));
  const types = new Set<string>();
  for (const delay of [0, 10, 25, 50, 90, 150]) {
    await new Promise<void>((done, fail) => {
      const child = spawn(process.execPath, ["--import", "tsx", loop, model, out], { stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (chunk) => (stderr += chunk));
      child.stdout.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("ready")) setTimeout(() => child.kill("SIGKILL"), delay);
      });
      child.on("exit", (code, signal) => (signal === "SIGKILL" ? done() : fail(new Error(`quantize loop exited with ${code}: ${stderr}`))));
    });
    // Complete and consistent: every weight dequantizes to its shape, in one of the two formats.
    const floats = readBnb4bitSafetensors(out);
    assert.deepEqual(floats.get("model.layers.0.mlp.up_proj.weight")!.shape, [172, 64]);
    const stateKey = SafetensorsFile.open(out).names().find((n) => n.startsWith("model.layers.0.mlp.up_proj.weight.quant_state."))!;
    types.add(stateKey.slice(stateKey.lastIndexOf("__") + 2));
  }
  assert.ok([...types].every((t) => t === "nf4" || t === "fp4"), [...types].join(", "));
  for (const name of readdirSync(folder)) assert.match(name, /^(out\.safetensors|\.out\.safetensors\.\d+\.[0-9a-f]{8}\.tmp)$/);
  assert.equal(run(model, "--out", out).status, 0);
  assert.deepEqual(readdirSync(folder), ["out.safetensors"], "a killed run's temporary file is removed by the next run");
});
