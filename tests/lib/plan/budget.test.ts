// A memory budget checked against the planner before a run allocates: the cases (16-bit LoRA
// of llama-3.2-3b refused under 4 GiB, QLoRA of tinyllama-1.1b fitting), the refusal's breakdown by
// category and the nearest change that fits, the WebAssembly heap's own 4 GiB limit, and generation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { OverBudgetError, checkGenerationBudget, checkTrainingBudget, planGeneration, planMemory } from "../../../lib/plan/index.js";
import { WASM_HEAP_LIMIT_BYTES } from "../../../lib/ops/index.js";

const GIB = 2 ** 30;

/** The OverBudgetError `run` throws. */
function refusal(run: () => unknown): OverBudgetError {
  try {
    run();
  } catch (error) {
    if (error instanceof OverBudgetError) return error;
    throw error;
  }
  assert.fail("the run was not refused");
}

test("16-bit LoRA of llama-3.2-3b under 4 GiB is refused, naming the need by category, the budget and what would fit", () => {
  const setup = { method: "lora", runtime: "tfjs", baseDtype: "bf16", batch: 8, seqLen: 128 } as const;
  const e = refusal(() => checkTrainingBudget("train", "4GiB", "llama-3.2-3b", setup));
  const plan = planMemory("llama-3.2-3b", setup);
  assert.equal(e.plan.requiredBytes, plan.requiredBytes);
  assert.equal(e.budgetBytes, 4 * GIB);
  assert.ok(!e.message.includes("\n"));
  assert.match(e.message, /^train: expected a run that fits the budget of 4 GiB, got llama-3\.2-3b, LoRA \(base in bf16\), batch 8 x 128 tokens, AdamW 32-bit planned at 14\.7 GiB \(activations [\d.]+ GiB, base_16bit 5\.25 GiB, base_dense 1\.47 GiB, optimizer_resident [\d.]+ MiB, lora_params [\d.]+ MiB, gradients [\d.]+ MiB\)/);
  assert.match(e.message, /of it in the WebAssembly heap, which stops at 4 GiB/);
  // No single change is enough for a 3B model in 4 GiB; the nearest combination that is, with what it needs.
  assert.match(e.message, /Would fit: use qlora \(an NF4 base\) \+ paged optimizer state \+ gradient checkpointing \+ batch 4 \(3\.99 GiB\)\. Nothing was allocated\.$/);
  const fit = planMemory("llama-3.2-3b", { method: "qlora", runtime: "tfjs", batch: 4, seqLen: 128, optimizer: { paged: true }, gradientCheckpointing: true });
  assert.equal(e.fits[0]!.requiredBytes, fit.requiredBytes);
  assert.ok(fit.requiredBytes <= 4 * GIB);
});

test("QLoRA of tinyllama-1.1b fits 4 GiB at batch 1 and returns its plan; at batch 8 the smaller batches that fit are offered", () => {
  const plan = checkTrainingBudget("train", "4GiB", "tinyllama-1.1b", { method: "qlora", runtime: "tfjs", batch: 1, seqLen: 128 });
  assert.ok(plan.requiredBytes < 4 * GIB);
  const e = refusal(() => checkTrainingBudget("train", 4 * GIB, "tinyllama-1.1b", { method: "qlora", runtime: "tfjs", batch: 8, seqLen: 128 }));
  assert.match(e.message, /Would fit: gradient checkpointing \([\d.]+ GiB\); batch 4 \([\d.]+ GiB\); batch 2 \([\d.]+ GiB\)\./);
  assert.deepEqual(e.fits.map((f) => f.label).slice(0, 4), ["gradient checkpointing", "batch 4", "batch 2", "batch 1"]);
});

test("a float32 LoRA of tinyllama-1.1b: the nearest fit is QLoRA with a smaller batch; paged state is offered when it alone fits", () => {
  const e = refusal(() => checkTrainingBudget("train", "4GiB", "tinyllama-1.1b", { method: "lora", runtime: "tfjs", batch: 8, seqLen: 128 }));
  assert.match(e.message, /LoRA \(base in fp32\).*Would fit: use qlora \(an NF4 base\) \+ gradient checkpointing \([\d.]+ GiB\)\./);
  // Optimizer state is what a paged optimizer moves off the device: a full fine-tune of a small model fits with it.
  const full = { method: "full", runtime: "cuda", batch: 1, seqLen: 256, baseDtype: "bf16" } as const;
  const need = planMemory("smollm2-135m", full);
  const paged = planMemory("smollm2-135m", { ...full, optimizer: { paged: true } });
  const e2 = refusal(() => checkTrainingBudget("train", paged.requiredBytes + 1, "smollm2-135m", full));
  assert.ok(need.requiredBytes > paged.requiredBytes + 1);
  assert.equal(e2.fits[0]!.label, "paged optimizer state");
});

test("on the wasm backend the heap's 4 GiB is a limit of its own, whatever the budget; host-held 4-bit codes do not count", () => {
  const setup = { method: "lora", runtime: "tfjs", batch: 8, seqLen: 128 } as const; // float32 tinyllama: 7.9 GiB, all in the heap
  const e = refusal(() => checkTrainingBudget("train", "64GiB", "tinyllama-1.1b", setup));
  assert.match(e.message, /^train: expected a run whose backend tensors fit the WebAssembly heap's 4 GiB limit, got tinyllama-1\.1b.*planned at 7\.87 GiB .*7\.87 GiB of it in the WebAssembly heap, which stops at 4 GiB\./);
  assert.equal(WASM_HEAP_LIMIT_BYTES, 4 * GIB);
  // The same run on tfjs-node has no such limit.
  assert.ok(checkTrainingBudget("train", "64GiB", "tinyllama-1.1b", { ...setup, backend: "tensorflow" }).requiredBytes > 4 * GIB);
});

test("generation: the base in its loaded storage plus the cache; over budget, a smaller storage or fewer tokens", () => {
  const f32 = planGeneration("smollm2-135m", { tokens: 512 });
  const nf4 = planGeneration("smollm2-135m", { tokens: 512, storage: "nf4" });
  const params = 134_515_008;
  assert.equal(f32.components.find((c) => c.name === "base weights (float32)")!.bytes, 4 * params);
  assert.equal(f32.components.find((c) => c.name === "key/value cache")!.bytes, 2 * 30 * 512 * 192 * 4);
  assert.ok(nf4.requiredBytes < f32.requiredBytes / 2);
  const e = refusal(() => checkGenerationBudget("qlora-lab generate", f32.requiredBytes - 1, "smollm2-135m", { tokens: 512 }, "wasm"));
  assert.match(e.message, /^qlora-lab generate: expected a run that fits the budget of [\d.]+ MiB, got smollm2-135m, generating 512 tokens \(base in f32\) planned at [\d.]+ MiB \(base_dense [\d.]+ MiB, activations [\d.]+ MiB\)\. Would fit: a bf16 base \(dtype bf16\) \([\d.]+ MiB\); an NF4 base \(quantize nf4\) \([\d.]+ MiB\); 256 tokens in all/);
  assert.equal(checkGenerationBudget("g", "1GiB", "smollm2-135m", { tokens: 512, storage: "nf4" }, "wasm").requiredBytes, nf4.requiredBytes);
  assert.throws(() => planGeneration("smollm2-135m", { tokens: 8, storage: "int3" as never }), /planGeneration: expected storage "f32", "bf16", "f16", "nf4", "fp4", got "int3"\./);
});

test("a bad budget or setup is refused as such, not as over budget", () => {
  assert.throws(() => checkTrainingBudget("train", "lots", "7b", { method: "qlora" }), /^InvalidArgumentError: train: expected a size such as "8GiB", "512MiB" or "8GB", got "lots"\./);
  assert.throws(() => checkTrainingBudget("train", "8GiB", "llama-9b", { method: "qlora" }), /a known model preset/);
  assert.throws(() => checkTrainingBudget("train", "8GiB", "7b", { method: "qlora", runtime: "tfjs", baseDtype: "bf16" }), /expected baseDtype fp32 for method "qlora" on runtime "tfjs", got bf16/);
});
