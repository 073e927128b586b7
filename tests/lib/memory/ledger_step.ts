// One training step of the tiny dense model instrumented with a MemoryLedger (shared by the ledger
// and planner tests; not a test file itself).
import * as tf from "@tensorflow/tfjs-core";
import type { LedgerPoint, MemoryLedger } from "../../../lib/memory/index.js";
import type { AdamW } from "../../../lib/optim/index.js";
import type { TinyModel } from "../optim/tiny_model.js";

/** One instrumented training step: start, forward+backward (activations transient), optimizer (temporaries), end. */
export async function ledgerStep(ledger: MemoryLedger, model: TinyModel, opt: AdamW, step: number, batch = 64): Promise<LedgerPoint[]> {
  const points = [ledger.snapshot("start", { step })];
  const fb = await ledger.measure("forward+backward", () => model.lossAndGrads({ start: 0, size: batch }), {
    transientCategory: "activations",
    extras: (r) => ({ gradients: r.grads, tensors: { temporaries: [r.loss] }, step }),
  });
  points.push(fb.peak, fb.end);
  const { loss, grads } = fb.result;
  const up = await ledger.measure("optimizer", () => opt.applyGradients(model.params, grads, 1e-3), {
    transientCategory: "temporaries",
    extras: () => ({ gradients: grads, tensors: { temporaries: [loss] }, step }),
  });
  points.push(up.peak, up.end);
  tf.dispose([loss, ...Object.values(grads)]);
  points.push(ledger.snapshot("end", { step }));
  return points;
}

