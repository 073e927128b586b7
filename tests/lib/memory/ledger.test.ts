import { test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { MEMORY_CATEGORIES, MemoryLedger, tensorReporter } from "../../../lib/memory/index.js";
import { AdamW, type OptimizerStateOption } from "../../../lib/optim/index.js";
import { makeTinyModel } from "../optim/tiny_model.js";
import { ledgerStep } from "./ledger_step.js";

const DIMS = [32, 96, 96, 16];
const PARAMS = 32 * 96 + 96 * 96 + 96 * 16;

function build(tag: string, state: OptimizerStateOption) {
  const model = makeTinyModel(tag, DIMS, 64, 3);
  const opt = new AdamW({ state });
  const ledger = new MemoryLedger({ optimizer: opt, data: tensorReporter("activations", "data", () => [model.x, model.y]) });
  model.layers.forEach((l, i) => ledger.track(`layer${i}`, l));
  return { model, opt, ledger };
}

for (const backend of ["cpu", "wasm"] as const) {
  for (const state of [{ kind: "resident" }, { kind: "paged", budgetBytes: 16384, pageBytes: 4096 }] as OptimizerStateOption[]) {
    test(`ledger reconciles with tf.memory() within 1% at every end point of a training step (${backend}, ${state.kind})`, async () => {
      await resolveBackend({ force: backend });
      const before = tf.memory().numBytes;
      assert.equal(before, 0, "the test starts with an empty backend");
      const { model, opt, ledger } = build(`led-${backend}-${state.kind}`, state);
      for (let step = 1; step <= 2; step++) {
        const points = await ledgerStep(ledger, model, opt, step);
        for (const p of points.filter((q) => q.at === "end")) {
          assert.ok(Math.abs(p.unaccountedBytes) <= 0.01 * p.measuredBackendBytes, `${p.phase}: ledger ${p.backendBytes} vs tf ${p.measuredBackendBytes}`);
        }
        const fbEnd = points.find((p) => p.phase === "forward+backward" && p.at === "end")!;
        assert.equal(fbEnd.bytes.gradients, 4 * PARAMS, "gradients: 4 bytes per parameter");
        const fbPeak = points.find((p) => p.phase === "forward+backward" && p.at === "peak")!;
        assert.ok(fbPeak.bytes.activations > 64 * (32 + 16) * 4, "the backward pass holds activations above the data");
      }
      const rec = ledger.reconcile();
      assert.ok(rec.relativeError < 0.01, JSON.stringify(rec));
      assert.equal(rec.backend, backend);
      if (backend === "wasm") assert.ok(rec.wasmHeapBytes! >= rec.tfBytes, "the wasm heap contains the tensors plus slack");
      const peak = ledger.peak();
      assert.equal(peak.base_dense, 4 * PARAMS);
      if (state.kind === "resident") assert.equal(peak.optimizer_resident, 8 * PARAMS);
      else {
        assert.ok(peak.optimizer_resident <= 16384);
        assert.equal(ledger.current().optimizer_resident + ledger.current().optimizer_paged_out, 8 * PARAMS);
        assert.equal(rec.hostBytes, ledger.current().optimizer_paged_out);
      }
      const owners = ledger.byOwner();
      const layer1 = owners.find((o) => o.owner.endsWith("layers.1"))!;
      assert.equal(layer1.bytes.base_dense, 96 * 96 * 4);
      assert.equal(layer1.bytes.optimizer_resident + layer1.bytes.optimizer_paged_out, 96 * 96 * 8);
      assert.equal(ledger.timeline().length, 2 * 6);
      assert.deepEqual(Object.keys(ledger.timeline()[0]!.bytes), [...MEMORY_CATEGORIES]);
      opt.dispose();
      model.dispose();
      assert.equal(tf.memory().numBytes, 0, "everything the ledger saw is released");
    });
  }
}

test("a tensor nobody reports shows up as unaccounted bytes", async () => {
  await resolveBackend({ force: "cpu" });
  const ledger = new MemoryLedger();
  const stray = tf.zeros([100]);
  const point = ledger.snapshot("stray");
  assert.equal(point.unaccountedBytes, 400);
  assert.equal(ledger.reconcile().relativeError, 1);
  stray.dispose();
  assert.throws(() => ledger.track("x", {} as never), /MemoryLedger.track: expected a MemoryReporter for "x"/);
});
