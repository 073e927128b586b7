// Models of published shapes with random weights (they measure memory and speed, not quality): built
// straight into 16-bit or 4-bit storage, their parameter counts equal the published ones, their 4-bit
// projections cost QLoRA's 4.127 bits per parameter plus a per-tensor overhead stated exactly, and they run.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { modelPreset, presetConfig, randomModel } from "../../../lib/model/index.js";
import { LLAMA_PRESETS } from "../../../lib/plan/index.js";

before(async () => {
  await resolveBackend();
});

/** Parameters the model holds: embeddings, norms and every projection, whatever its storage. */
function parameterCount(model: ReturnType<typeof randomModel>): number {
  let n = model.embedding.size;
  for (const norm of model.normWeights().values()) n += norm.size;
  for (const linear of model.linears().values()) n += linear.inFeatures * linear.outFeatures;
  return n;
}

// Published sizes: SmolLM2-135M's model card (134,515,008 counted from its config), TinyLlama's 1.1B.
for (const [name, published] of [["smollm2-135m", 134_515_008], ["tinyllama-1.1b", 1_100_048_384]] as const) {
  for (const storage of ["bf16", "nf4"] as const) {
    test(`${name} in ${storage}: ${published.toLocaleString("en-US")} parameters, stored as ${storage === "bf16" ? "2 bytes" : "4.127 bits + a stated overhead"} per projection parameter`, { timeout: 300_000 }, () => {
      const model = randomModel(name, { storage, seed: 1 });
      try {
        assert.equal(parameterCount(model), published);
        const projections = [...model.linears()].filter(([path]) => path !== "lm_head");
        const projectionParameters = projections.reduce((n, [, l]) => n + l.inFeatures * l.outFeatures, 0);
        const items = model.memoryItems().filter((i) => projections.some(([path]) => i.owner === path));
        const bytes = items.reduce((n, i) => n + i.bytes, 0);
        if (storage === "bf16") {
          assert.equal(bytes, 2 * projectionParameters);
          assert.ok(items.every((i) => i.category === "base_16bit"));
        } else {
          // Per parameter: 4 bits of code, 8 bits of absmax code per block of 64 (0.125), a float32 nested
          // absmax per 256 blocks (0.00195): 4.12695. Per tensor: the 256-entry float32 nested code map
          // (1,024 bytes), its offset (4) and the 16-entry float32 code book (64): 1,092 bytes.
          const expectedBits = 4 + 8 / 64 + 32 / (64 * 256) + (8 * 1092 * projections.length) / projectionParameters;
          const bits = (8 * bytes) / projectionParameters;
          assert.ok(Math.abs(bits - expectedBits) / expectedBits < 0.01, `${bits} bits per parameter vs ${expectedBits}`);
        }
      } finally {
        model.dispose();
      }
    });
  }
}

test("a random smollm2-135m in NF4 runs a forward pass with finite logits of the vocabulary's width", { timeout: 300_000 }, () => {
  const model = randomModel("smollm2-135m", { storage: "nf4", seed: 2 });
  try {
    const ids = tf.tensor2d([[1, 50, 900, 49000, 7, 7, 3, 2]], undefined, "int32");
    const logits = model.forward(ids);
    assert.deepEqual(logits.shape, [1, 8, 49152]);
    assert.ok((logits.dataSync() as Float32Array).every(Number.isFinite));
    tf.dispose([ids, logits]);
  } finally {
    model.dispose();
  }
});

test("one table of shapes: the planner's presets are the model's, and bad names are refused with the list", () => {
  const config = presetConfig("tinyllama-1.1b");
  assert.deepEqual([config.hiddenSize, config.intermediateSize, config.numLayers, config.numHeads, config.numKvHeads, config.vocabSize, config.tieWordEmbeddings], [2048, 5632, 22, 32, 4, 32000, false]);
  for (const name of ["smollm2-135m", "llama-2-7b", "7b", "llama2-70b"]) {
    const p = modelPreset(name);
    assert.equal(LLAMA_PRESETS[p.name]!.hiddenSize, p.hiddenSize);
    assert.equal(LLAMA_PRESETS[p.name]!.numKvHeads, p.numKvHeads);
  }
  assert.throws(() => presetConfig("llama-9b"), /a known model preset \(smollm2-135m.*got "llama-9b"/);
  assert.throws(() => randomModel("smollm2-135m", { storage: "int3" as never }), /storage "f32", "bf16", "f16", "nf4", "fp4".*got "int3"/);
});
