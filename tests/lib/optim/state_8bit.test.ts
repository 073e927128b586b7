import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { AdamW, Blockwise8bitCodec, type OptimizerStateOption } from "../../../lib/optim/index.js";
import { dequantizeBlockwise8bit } from "../../../lib/quant/dynamic_map.js";
import { makeTinyModel, trainStep } from "./tiny_model.js";

// Two 4096-element layers (8-bit) and one 512-element layer (stays 32-bit: under 4096 elements),
// fitting 4096 noisy samples in minibatches of 256 (more targets than parameters: the loss plateaus).
const DIMS = [64, 64, 64, 8];
const BIG = 2 * 4096;
const SMALL = 64 * 8;
const SAMPLES = 4096;
const BATCH = 256;

function fineTune(state: OptimizerStateOption, steps: number, tag: string) {
  const model = makeTinyModel(tag, DIMS, SAMPLES, 7);
  const opt = new AdamW({ state });
  const losses: number[] = [];
  let stateBytes = 0;
  for (let t = 0; t < steps; t++) {
    const before = tf.memory().numBytes;
    losses.push(trainStep(model, opt, 3e-3, { start: (t * BATCH) % SAMPLES, size: BATCH }));
    if (t === 0) stateBytes = tf.memory().numBytes - before; // the state the first step allocated
  }
  const weights = model.params.map((p) => Array.from(p.variable.dataSync()));
  const evalLoss = model.loss();
  const finalLoss = evalLoss.dataSync()[0]!;
  evalLoss.dispose();
  const saved = opt.saveState();
  const items = opt.memoryItems();
  opt.dispose();
  model.dispose();
  return { losses, weights, saved, items, stateBytes, finalLoss };
}

test("8-bit AdamW tracks 32-bit AdamW on a small fine-tune (final loss within 2%) with about a quarter of the state bytes", async () => {
  await resolveBackend({ force: "wasm" });
  const before = tf.memory().numTensors;
  const full = fineTune({ kind: "resident" }, 150, "f32");
  const q8 = fineTune({ kind: "8bit" }, 150, "q8");
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
  const [l32, l8] = [full.finalLoss, q8.finalLoss]; // loss on all 4096 samples after 150 steps
  assert.ok(l32 < 0.8 * full.losses[0]!, `32-bit training makes progress: ${full.losses[0]} -> ${l32}`);
  assert.ok(Math.abs(l8 - l32) / l32 < 0.02, `final loss 8-bit ${l8} vs 32-bit ${l32}`);
  // Measured with tf.memory(): 8 bytes/param for 32-bit; codes (2 bytes/param) + 2 scales per 256 for 8-bit.
  assert.equal(full.stateBytes, 8 * (BIG + SMALL));
  assert.equal(q8.stateBytes, 2 * BIG + 8 * (BIG / 256) + 8 * SMALL);
  const ratioBig = (2 * BIG + 8 * (BIG / 256)) / (8 * BIG);
  assert.ok(Math.abs(ratioBig - 0.254) < 0.001, `8-bit / 32-bit bytes on large tensors = ${ratioBig}`);
  assert.deepEqual(q8.items.map((i) => i.bytes), [4096 * 2 + 16 * 8, 4096 * 2 + 16 * 8, SMALL * 8]);
});

for (const backend of ["cpu", "wasm"] as const) {
  test(`paged 8-bit AdamW is bit-identical to resident 8-bit (${backend})`, async () => {
    await resolveBackend({ force: backend });
    const q8 = fineTune({ kind: "8bit" }, 4, `q8-${backend}`);
    const pq8 = fineTune({ kind: "paged-8bit", budgetBytes: 5000, pageBytes: 4160 }, 4, `pq8-${backend}`);
    assert.deepEqual(pq8.losses, q8.losses);
    assert.deepEqual(pq8.weights, q8.weights);
    const a = Object.values(q8.saved.slots);
    Object.values(pq8.saved.slots).forEach((slot, i) => assert.deepEqual(slot, a[i]));
    assert.ok(pq8.items.some((i) => i.category === "optimizer_paged_out"));
  });
}

test("8-bit state checkpoints: codes and scales round-trip exactly; a 32-bit optimizer resumes from them dequantized", async () => {
  await resolveBackend({ force: "cpu" });
  const run = fineTune({ kind: "8bit" }, 3, "ck8");
  const slot = Object.values(run.saved.slots)[0]!;
  assert.ok(slot.m_codes instanceof Uint8Array && slot.m_codes.length === 4096);
  assert.ok(slot.v_absmax instanceof Float32Array && slot.v_absmax.length === 16);
  const small = Object.values(run.saved.slots)[2]!;
  assert.ok(small.m instanceof Float32Array && !("m_codes" in small), "small tensors keep float32 state");
  const names = Object.keys(run.saved.slots);
  const q = new AdamW({ state: { kind: "8bit" } });
  q.loadState(run.saved);
  assert.deepEqual(q.saveState().slots[names[0]!], slot);
  q.dispose();
  const f = new AdamW();
  f.loadState(run.saved);
  const codec = new Blockwise8bitCodec();
  assert.deepEqual(f.saveState().slots[names[0]!]!.m, dequantizeBlockwise8bit(slot.m_codes as Uint8Array, slot.m_absmax as Float32Array, codec.signedMap, 256));
  f.dispose();
});
