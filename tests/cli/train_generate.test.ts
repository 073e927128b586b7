// The adapter `qlora-lab train` saves loads in `qlora-lab generate --adapter` and gives the logits
// (and greedy tokens) of the model the run trained, not the base model's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../lib/backend.js";
import { loadModel, loadTokenizer } from "../../lib/model/index.js";
import { trainFromRecipe } from "../../lib/recipe/index.js";
import { runCli, tempDir } from "./cli.js";
import { assertClose } from "../lib/model/helpers.js";
import { HF_MODEL, LLAMA2C_TOKENIZER, recipeFor, writeInitialAdapter, writeRows } from "../lib/recipe/helpers.js";

const PROMPT = "Once upon a time";

function lastLogits(model: { forward(ids: tf.Tensor2D): tf.Tensor3D }, ids: number[]): Float32Array {
  return tf.tidy(() => tf.reshape(tf.slice(model.forward(tf.tensor2d(ids, [1, ids.length], "int32")), [0, ids.length - 1, 0], [1, 1, -1]), [-1]).dataSync() as Float32Array);
}

test("the trained adapter in `qlora-lab generate --adapter` gives the logits the run's model gives", { skip: !existsSync(HF_MODEL) && "shared/models/stories260K-hf is not present", timeout: 120_000 }, async (t) => {
  await resolveBackend();
  const dir = tempDir();
  try {
    const initial = await writeInitialAdapter(dir);
    const run = await trainFromRecipe(recipeFor(writeRows(dir), join(dir, "out"), { training: { steps: 5, batch_size: 4, seed: 0 } }), { initAdapter: initial, keepModel: true });
    const tokenizer = await loadTokenizer(LLAMA2C_TOKENIZER);
    const promptIds = tokenizer.encode(PROMPT, { bos: true });
    const trained = run.model!;
    const seen = lastLogits(trained, promptIds);
    const greedy = await trained.generate(promptIds, { maxNewTokens: 6, temperature: 0 });
    trained.dispose();
    const base = await loadModel(HF_MODEL);
    const baseLogits = lastLogits(base, promptIds);
    base.dispose();

    const cli = await runCli(["generate", "--model", HF_MODEL, "--tokenizer", LLAMA2C_TOKENIZER, "--adapter", run.outputs.adapter, "--prompt", PROMPT, "--max-new-tokens", "6", "--json", "--logits"], { limitS: 60 });
    assert.equal(cli.status, 0, cli.stderr);
    const out = JSON.parse(cli.stdout) as { promptIds: number[]; ids: number[]; promptLogits: number[] };
    assert.deepEqual(out.promptIds, promptIds);
    const worst = assertClose(out.promptLogits, seen, 1e-5, "generate --adapter logits vs the trained model's");
    const moved = Math.max(...seen.map((v, i) => Math.abs(v - baseLogits[i]!)));
    t.diagnostic(`largest logit difference ${worst.toExponential(2)}; the adapter moves logits by up to ${moved.toFixed(3)} from the base's`);
    assert.ok(moved > 1e-2, "the adapter changes the logits (it is really applied)");
    assert.deepEqual(out.ids, greedy.ids, "greedy tokens are the trained model's");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("generate --logits needs --json", async () => {
  const cli = await runCli(["generate", "--model", HF_MODEL, "--prompt", "x", "--logits"], { limitS: 30 });
  assert.equal(cli.status, 1);
  assert.equal(cli.stderr.trim(), "qlora-lab generate: expected --logits together with --json, got --logits alone.");
});
