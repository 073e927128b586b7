// The planner against the ledger where the products run on the native engine and one weight is much
// larger than the rest: an untied 16-bit head (as tinyllama's), widened to float32 for its product and
// multiplied natively between two TF.js kernels. The ledger must see that widened weight (adoptTensor
// records it in tf.profile) and the planner must not add wasm's transposed copies the native engine
// never makes; with products forced to TF.js the plan follows wasm's kernels instead.
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveBackend } from "../../../lib/backend.js";
import { llamaConfig } from "../../../lib/model/config.js";
import { randomModel } from "../../../lib/model/random_model.js";
import { toLoraModel } from "../../../lib/lora/index.js";
import { train } from "../../../lib/train/index.js";
import { MemoryLedger } from "../../../lib/memory/index.js";
import { configureProducts, productEngineReport } from "../../../lib/ops/native_product.js";
import { planMemory } from "../../../lib/plan/index.js";

const [V, C, I, L, T] = [16000, 512, 512, 2, 128];
const TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
const hf = { hidden_size: C, intermediate_size: I, num_hidden_layers: L, num_attention_heads: 4, num_key_value_heads: 4, vocab_size: V, tie_word_embeddings: false };

async function measure(storage: "bf16" | "nf4"): Promise<number> {
  const config = llamaConfig({ hiddenSize: C, intermediateSize: I, numLayers: L, numHeads: 4, numKvHeads: 4, vocabSize: V, tieWordEmbeddings: false, ropeTheta: 10000, rmsNormEps: 1e-5, maxPositionEmbeddings: 512 });
  const base = randomModel(config, { storage, seed: 1 });
  const model = toLoraModel(base, { r: 16, lora_alpha: 32, target_modules: TARGETS }, { seed: 1 });
  try {
    let state = 7;
    const rows = Array.from({ length: 4 }, () => {
      const ids = Array.from({ length: T }, () => 3 + ((state = (state * 1103515245 + 12345) >>> 0) % (V - 3)));
      return { ids, counted: ids.map((_, i) => (i === 0 ? 0 : 1)) };
    });
    const ledger = new MemoryLedger();
    await train(model, { sequences: rows }, { batchSize: 1, maxLength: T, lr: 1e-4, shuffle: false, stopOnSigint: false, steps: 2, ledger });
    return ledger.peak().totalBytes;
  } finally {
    model.dispose();
    base.dispose();
  }
}

const plan = (storage: "bf16" | "nf4") =>
  planMemory(hf, { method: storage === "bf16" ? "lora" : "qlora", baseDtype: storage === "bf16" ? "bf16" : "fp32", runtime: "tfjs", backend: "wasm", batch: 1, seqLen: T, r: 16, targetModules: TARGETS, quantType: "nf4", doubleQuant: true, blocksize: 64 }).totalBytes;

test("an untied 16-bit head on the native engine: the ledger sees its widened weight, the planner within 1 %; the same with products on TF.js", async (t) => {
  await resolveBackend();
  const engines = productEngineReport().engine === "tfjs" ? ["tfjs"] : ["native", "tfjs"];
  try {
    for (const engine of engines) {
      configureProducts({ QLORA_LAB_PRODUCTS: engine });
      for (const storage of ["bf16", "nf4"] as const) {
        const measured = await measure(storage);
        const planned = plan(storage);
        const error = (100 * (planned - measured)) / measured;
        t.diagnostic(`${engine} products, ${storage} base: planned ${planned} B, ledger peak ${measured} B (${error.toFixed(2)} %)`);
        assert.ok(Math.abs(error) < 1, `${engine} ${storage}: planned ${planned} vs ledger ${measured} (${error.toFixed(2)} %)`);
        if (storage === "bf16") assert.ok(measured > V * C * (2 + 4), "the peak holds the 16-bit head and its float32 widening");
      }
    }
  } finally {
    configureProducts({});
  }
});
