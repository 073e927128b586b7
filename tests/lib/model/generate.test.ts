// generate refuses to pick tokens from non-finite logits (an overflow in the forward pass) instead of
// returning arbitrary ids.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { resolveBackend } from "../../../lib/backend.js";
import { TensorError } from "../../../lib/errors.js";
import { LlamaModel, expectedWeightShapes, initLlamaModel, llamaConfig } from "../../../lib/model/index.js";

const CONFIG = llamaConfig({ vocabSize: 32, hiddenSize: 16, intermediateSize: 24, numLayers: 2, numHeads: 4, numKvHeads: 2, maxPositionEmbeddings: 16 });

before(async () => {
  await resolveBackend();
});

test("finite but huge weights overflow to NaN logits: generate throws naming the step and the value", async () => {
  const fine = initLlamaModel(CONFIG, { seed: 2 });
  const result = await fine.generate([1, 5, 7], { maxNewTokens: 3, eosTokenId: null });
  assert.equal(result.ids.length, 3);
  fine.dispose();
  // Matrices of ones and RMSNorm weights of 3e38: finite in float32, so the model loads, but the
  // first projection after a norm sums 16 values of 3e38 and overflows.
  const weights = new Map([...expectedWeightShapes(CONFIG)].map(([name, shape]) => [name, new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(shape.length === 1 ? 3e38 : 1)]));
  const huge = new LlamaModel(CONFIG, weights);
  try {
    await assert.rejects(huge.generate([1, 5, 7], { maxNewTokens: 3 }), (e: Error) => e instanceof TensorError && /^generate: expected finite logits at step 0, got (NaN|-?Infinity) for token id \d+\. An overflow/.test(e.message));
  } finally {
    huge.dispose();
  }
});
