// loadModel straight into 16 or 4 bits: converting each projection as it is read gives the same model,
// bit for bit, as loading in float32 and converting afterwards (toLora16Model's and toQloraModel's
// conversions), on the real stories260K checkpoint in both of its formats; bad options and a missing
// shard are refused with errors that name them.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { FileFormatError, InvalidArgumentError, TensorError } from "../../../lib/errors.js";
import { halfPrecisionBaseLinears } from "../../../lib/lora/lora16.js";
import { quantizeBaseLinears } from "../../../lib/lora/qlora.js";
import { HalfLinear, LlamaModel, QuantizedLinear, initLlamaModel, llamaConfig, loadModel, saveModel, type LoadModelOptions } from "../../../lib/model/index.js";
import { HF_MODEL, LLAMA2C_MODEL, pokeFloat32 } from "./helpers.js";

before(async () => {
  await resolveBackend();
});

/** Asserts two models hold the same bytes: dense tensors equal, 16-bit bits equal, 4-bit codes and scales equal. */
function assertSameModel(actual: LlamaModel, wanted: LlamaModel): void {
  assert.deepEqual(actual.embedding.dataSync(), wanted.embedding.dataSync(), "embedding");
  for (const [name, norm] of wanted.normWeights()) assert.deepEqual(actual.normWeights().get(name)!.dataSync(), norm.dataSync(), name);
  const actualLinears = actual.linears();
  assert.deepEqual([...actualLinears.keys()], [...wanted.linears().keys()]);
  for (const [path, want] of wanted.linears()) {
    const got = actualLinears.get(path)!;
    assert.equal(got.constructor, want.constructor, `${path}: ${got.constructor.name} vs ${want.constructor.name}`);
    if (want instanceof HalfLinear) {
      assert.equal((got as HalfLinear).dtype, want.dtype);
      assert.deepEqual((got as HalfLinear).bits, want.bits, path);
    } else if (want instanceof QuantizedLinear) {
      const [g, w] = [(got as QuantizedLinear).weight, want.weight];
      assert.deepEqual([g.quantType, g.blocksize, g.shape], [w.quantType, w.blocksize, w.shape], path);
      assert.deepEqual(g.packed, w.packed, `${path} codes`);
      assert.deepEqual(g.absmax, w.absmax, `${path} absmax`);
      assert.deepEqual(g.nested, w.nested, `${path} nested absmax`);
    } else {
      const [a, b] = [got.denseWeight(), want.denseWeight()];
      assert.deepEqual(a.dataSync(), b.dataSync(), path);
      tf.dispose([a, b]);
    }
  }
}

const CASES: Array<[string, LoadModelOptions, (m: LlamaModel) => unknown]> = [
  ["bf16", { dtype: "bf16" }, (m) => halfPrecisionBaseLinears(m, "bf16")],
  ["f16", { dtype: "f16" }, (m) => halfPrecisionBaseLinears(m, "f16")],
  ["nf4 + double quantization", { quantize: { type: "nf4", doubleQuant: true } }, (m) => quantizeBaseLinears(m, { quantType: "nf4", doubleQuant: true })],
  ["fp4, blocks of 128, float32 scales", { quantize: { type: "fp4", doubleQuant: false, blocksize: 128 } }, (m) => quantizeBaseLinears(m, { quantType: "fp4", doubleQuant: false, blocksize: 128 })],
];

for (const [format, path] of [["Hugging Face folder", HF_MODEL], ["llama2.c .bin", LLAMA2C_MODEL]] as const) {
  for (const [what, options, convert] of CASES) {
    test(`stories260K (${format}) loaded straight into ${what} equals loading float32 and converting`, { timeout: 60_000 }, async () => {
      const direct = await loadModel(path, options);
      const reference = await loadModel(path);
      try {
        convert(reference);
        assertSameModel(direct, reference);
        const ids = tf.tensor2d([[1, 403, 407, 261]], undefined, "int32");
        const [a, b] = [direct.forward(ids), reference.forward(ids)];
        assert.deepEqual(a.dataSync(), b.dataSync(), "logits");
        tf.dispose([ids, a, b]);
      } finally {
        direct.dispose();
        reference.dispose();
      }
    });
  }
}

test("4-bit loading keeps lm_head (and any skipModules) in float32, as toQloraModel does", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-load-skip-"));
  try {
    const untied = initLlamaModel(llamaConfig({ vocabSize: 32, hiddenSize: 64, intermediateSize: 96, numLayers: 2, numHeads: 4, numKvHeads: 2, maxPositionEmbeddings: 16, tieWordEmbeddings: false }), { seed: 3 });
    await saveModel(untied, dir);
    untied.dispose();
    const model = await loadModel(dir, { quantize: { type: "nf4", skipModules: ["lm_head", "down_proj"] } });
    try {
      const kinds = [...model.linears()].map(([path, l]) => `${path.replace(/^model\.layers\.\d+\./, "")}:${l instanceof QuantizedLinear ? "4bit" : "f32"}`);
      assert.ok(kinds.includes("lm_head:f32") && kinds.includes("mlp.down_proj:f32") && kinds.includes("self_attn.q_proj:4bit"), kinds.join(" "));
      const reference = await loadModel(dir);
      quantizeBaseLinears(reference, { quantType: "nf4", skipModules: ["lm_head", "down_proj"] });
      assertSameModel(model, reference);
      reference.dispose();
    } finally {
      model.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad storage options, a NaN in a projection being quantized and a missing shard are refused by name", async () => {
  await assert.rejects(loadModel(HF_MODEL, { dtype: "int8" as never }), (e: Error) => e instanceof InvalidArgumentError && /loadModel: expected dtype "f32", "bf16", "f16", got "int8"\./.test(e.message));
  await assert.rejects(loadModel(HF_MODEL, { dtype: "bf16", quantize: { type: "nf4" } }), /expected either dtype or quantize, got dtype "bf16" and quantize\./);
  await assert.rejects(loadModel(HF_MODEL, { quantize: { type: "nf3" as never } }), /expected quantize\.type "nf4", "fp4", "int4", got "nf3"\./);
  await assert.rejects(loadModel(HF_MODEL, { quantize: { type: "nf4" }, trainable: "all" }), /expected trainable "none" with a 16-bit or 4-bit base, got trainable "all"\./);

  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-load-bad-"));
  try {
    const model = await loadModel(HF_MODEL);
    await saveModel(model, dir);
    model.dispose();
    pokeFloat32(join(dir, "model.safetensors"), "model.layers.2.mlp.up_proj.weight", 5, NaN);
    await assert.rejects(loadModel(dir, { quantize: { type: "nf4" } }), (e: Error) => e instanceof TensorError && e.message.startsWith(`${dir}: expected finite values in "model.layers.2.mlp.up_proj.weight", got NaN at element 5 of`));

    // A sharded checkpoint whose index names a shard that is not there.
    const sharded = join(dir, "sharded");
    mkdirSync(sharded);
    writeFileSync(join(sharded, "config.json"), readFileSync(join(HF_MODEL, "config.json")));
    writeFileSync(join(sharded, "model.safetensors.index.json"), JSON.stringify({ weight_map: { "model.embed_tokens.weight": "model-00001-of-00002.safetensors" } }));
    await assert.rejects(loadModel(sharded, { dtype: "bf16" }), (e: Error) => e instanceof FileFormatError && /expected the shard "model-00001-of-00002\.safetensors" that weight_map names for "model\.embed_tokens\.weight", got no such file in /.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
