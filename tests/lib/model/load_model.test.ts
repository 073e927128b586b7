// loadModel refuses a checkpoint holding a NaN or Infinity, naming the file, the tensor and the value,
// instead of building a model that generates garbage.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveBackend } from "../../../lib/backend.js";
import { TensorError } from "../../../lib/errors.js";
import { initLlamaModel, llamaConfig, loadModel, saveModel } from "../../../lib/model/index.js";
import { pokeFloat32 } from "./helpers.js";

const CONFIG = llamaConfig({ vocabSize: 32, hiddenSize: 16, intermediateSize: 24, numLayers: 2, numHeads: 4, numKvHeads: 2, maxPositionEmbeddings: 16 });

before(async () => {
  await resolveBackend();
});

test("one NaN or Infinity weight in model.safetensors: loadModel refuses, naming the file, tensor, value and element", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-nonfinite-"));
  try {
    const model = initLlamaModel(CONFIG, { seed: 1 });
    await saveModel(model, dir);
    model.dispose();
    (await loadModel(dir)).dispose(); // the saved model itself is fine
    const file = join(dir, "model.safetensors");
    const cases: Array<[string, number, number, RegExp]> = [
      ["model.layers.1.mlp.up_proj.weight", 7, NaN, /expected finite values in "model\.layers\.1\.mlp\.up_proj\.weight", got NaN at element 7 of 384\./],
      ["model.embed_tokens.weight", 0, -Infinity, /expected finite values in "model\.embed_tokens\.weight", got -Infinity at element 0 of 512\./],
    ];
    for (const [name, index, value, message] of cases) {
      await saveModel(initLlamaModel(CONFIG, { seed: 1 }), dir);
      pokeFloat32(file, name, index, value);
      await assert.rejects(loadModel(dir), (e: Error) => e instanceof TensorError && e.message.startsWith(`${dir}: `) && message.test(e.message), name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
