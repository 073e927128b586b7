import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveBackend } from "../../../lib/backend.js";
import { MemoryLedger, tensorReporter } from "../../../lib/memory/index.js";
import { planMemory, fitsGpus, planDenseStack, planByCategory, LLAMA_PRESETS, shapeFromHfConfig } from "../../../lib/plan/index.js";
import { AdamW } from "../../../lib/optim/index.js";
import { makeTinyModel } from "../optim/tiny_model.js";
import { ledgerStep } from "../memory/ledger_step.js";

const GIB = 2 ** 30;

test("planner reproduces the published picture with the default recipe", () => {
  const lora7 = planMemory("7b", { method: "lora" }).totalBytes / GIB;
  const qlora7 = planMemory("7b", { method: "qlora" }).totalBytes / GIB;
  assert.ok(lora7 >= 12 && lora7 <= 16, `7B LoRA ${lora7.toFixed(2)} GiB in 12-16`);
  assert.ok(qlora7 >= 5 && qlora7 <= 8, `7B QLoRA ${qlora7.toFixed(2)} GiB in 5-8`);
  const q70 = fitsGpus(planMemory("70b", { method: "qlora" }));
  assert.ok(q70.gpus.find((g) => g.gb === 80)!.fits && q70.largestGpusNeeded === 1, "70B QLoRA fits one 80 GB GPU");
  const l70 = fitsGpus(planMemory("llama2-70b", { method: "lora" }));
  assert.ok(!l70.gpus.some((g) => g.fits) && l70.largestGpusNeeded >= 2, "70B LoRA needs two or more");
  const dq = planMemory("65b", { method: "qlora", doubleQuant: false }).totalBytes - planMemory("65b", { method: "qlora" }).totalBytes;
  assert.ok(dq / GIB > 2.7 && dq / GIB < 3.3, `DQ saves ${(dq / GIB).toFixed(2)} GiB on 65B`);
  const q33 = planMemory("33b", { method: "qlora" }).totalBytes / GIB;
  assert.ok(q33 < 24, `33B QLoRA ${q33.toFixed(1)} GiB fits 24 GB (HF blog)`);
});

test("planner components: hand-checked 7B numbers and formulas", () => {
  const plan = planMemory("7b", { method: "qlora", r: 8, targetModules: ["q_proj", "v_proj"], optimizer: { bits: 8, paged: true } });
  const by = Object.fromEntries(plan.components.map((c) => [c.name, c]));
  assert.equal(by["nf4 codes"]!.bytes, 6_476_005_376 / 2);
  assert.equal(plan.parameters.trainable, 32 * 2 * 8 * (4096 + 4096)); // 4.19M
  assert.equal(by["LoRA parameters"]!.bytes, 4 * plan.parameters.trainable);
  assert.equal(by["AdamW 8-bit state (paged)"]!.bytes, 32 * 4 * (2 * 32768 + 8 * 128));
  assert.ok(by["AdamW 8-bit state (paged)"]!.pageable);
  assert.equal(plan.requiredBytes, plan.totalBytes - by["AdamW 8-bit state (paged)"]!.bytes);
  assert.match(by["nf4 codes"]!.formula, /P_lin \/ 2/);
  assert.ok(plan.components.every((c) => c.bytes > 0 && c.formula.length > 0));
  const noCkpt = planMemory("7b", { method: "qlora", gradientCheckpointing: false });
  assert.ok(planByCategory(noCkpt).activations! > 5 * planByCategory(planMemory("7b", { method: "qlora" })).activations!);
  assert.equal(LLAMA_PRESETS["llama3-8b"]!.numKvHeads, 8);
});

test("planner reads a Hugging Face config.json and rejects bad settings clearly", () => {
  const cfg = { hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, vocab_size: 128256, model_type: "llama" };
  assert.equal(planMemory(cfg, { method: "qlora" }).totalBytes, planMemory("llama3-8b", { method: "qlora" }).totalBytes);
  assert.equal(shapeFromHfConfig(cfg).headDim, 128);
  assert.throws(() => planMemory("8x7b", { method: "qlora" }), /modelPreset: expected a known model preset \(smollm2-135m, smollm2-360m, tinyllama-1.1b, llama-3.2-1b, llama-3.2-3b, llama-2-7b, llama-3.1-8b, 7b, 13b, 33b, 65b, llama2-70b, llama3-8b, 70b, 30b, 8b, llama-2-70b, llama-3-8b, tinyllama\), got "8x7b"/);
  assert.throws(() => planMemory("7b", { method: "qlora", batch: -1 }), /planMemory: expected batch to be a positive integer, got -1/);
  assert.throws(() => planMemory("7b", { method: "qlora", seqLen: 0 }), /seqLen to be a positive integer/);
  assert.throws(() => planMemory("7b", { method: "dora" as never }), /setup.method "lora", "qlora" or "full"/);
  assert.throws(() => planMemory("7b", { method: "lora", targetModules: ["c_attn"] }), /targetModules naming block linears/);
  assert.throws(() => planMemory({ hidden_size: 64 }, { method: "lora" }), /config.num_attention_heads to be a positive integer, got undefined. Is this a LLaMA-family config.json\?/);
});

for (const backend of ["cpu", "wasm"] as const) {
  test(`planner totals are within 10% of the ledger's measured peak on small float32 models (${backend})`, async () => {
    await resolveBackend({ force: backend });
    for (const [dims, batch] of [[[32, 96, 96, 16], 64], [[64, 256, 256, 64], 16]] as const) {
      const model = makeTinyModel(`plan-${backend}-${dims[1]}`, [...dims], batch, 5);
      const opt = new AdamW();
      const ledger = new MemoryLedger({ optimizer: opt, data: tensorReporter("activations", "data", () => [model.x, model.y]) });
      model.layers.forEach((l, i) => ledger.track(`layer${i}`, l));
      for (let step = 1; step <= 2; step++) await ledgerStep(ledger, model, opt, step, batch);
      const measured = ledger.peak().totalBytes;
      const planned = planDenseStack({ dims, batch }).totalBytes;
      const error = Math.abs(planned - measured) / measured;
      console.log(`# ${backend} dims ${dims.join("x")} batch ${batch}: planned ${planned} B, ledger peak ${measured} B, error ${(100 * error).toFixed(1)}%`);
      assert.ok(error < 0.1, `planned ${planned} vs measured ${measured}`);
      opt.dispose();
      model.dispose();
    }
  });
}
