// One optimizer step of lib/train's loop: each micro-batch's forward and backward (its mean loss
// weighted by its share of counted tokens, so the accumulated gradient is that of the mean over the
// whole effective batch), clipping by global norm, and the optimizer's update; plain numbers out.
import * as tf from "@tensorflow/tfjs-core";
import { bytesOfTensors, type MemoryLedger } from "../memory/ledger.js";
import { MEMORY_CATEGORIES, type MemoryCategory } from "../memory/types.js";
import { clipByGlobalNorm } from "../optim/clip.js";
import type { NamedVariable, Optimizer } from "../optim/optimizer.js";
import type { Batch } from "./batching.js";
import type { TrainableModel } from "./model_contract.js";

/** What every step of a run uses. */
export interface StepSetup {
  model: TrainableModel;
  params: readonly NamedVariable[];
  optimizer: Optimizer;
  /** Clip the global gradient norm to this; null: no clipping. */
  maxGradNorm: number | null;
  /** Recompute each decoder block's activations in the backward (TrainOptions.gradientCheckpointing). */
  gradientCheckpointing?: boolean;
  /** Measures each micro-batch's forward+backward (peak transients as "activations") when given. */
  ledger?: MemoryLedger;
}

/** What one step did and measured. */
export interface StepOutcome {
  /** The effective batch's mean loss. */
  loss: number;
  /** The global gradient norm before clipping. */
  gradNorm: number;
  /** Bytes of the accumulated gradients. */
  gradientBytes: number;
  /** The highest rise of tf.memory().numBytes while a micro-batch's loss was computed. */
  activationBytes: number;
  /** The ledger's peak by category over the micro-batches (with a ledger). */
  ledgerPeak?: Partial<Record<MemoryCategory, number>>;
}

/** Runs step `step` + 1 on `micro` at learning rate `lr`: gradients, clipping, the optimizer's update. */
export async function trainStep(setup: StepSetup, micro: readonly Batch[], lr: number, step: number): Promise<StepOutcome> {
  const { params, optimizer, maxGradNorm } = setup;
  const accumulated = await accumulateGradients(setup, micro, step);
  let grads = accumulated.grads;
  const gradientBytes = bytesOfTensors(Object.values(grads));
  let gradNorm: number;
  if (maxGradNorm !== null) {
    const clipped = clipByGlobalNorm(grads, maxGradNorm);
    tf.dispose(Object.values(grads));
    grads = clipped.grads;
    gradNorm = clipped.norm;
  } else {
    gradNorm = tf.tidy(() => Math.sqrt(Object.values(grads).reduce((s, t) => s + tf.sum(tf.square(t)).dataSync()[0]!, 0)));
  }
  optimizer.applyGradients(params, grads, lr);
  tf.dispose(Object.values(grads));
  return { loss: accumulated.loss, gradNorm, gradientBytes, activationBytes: accumulated.activationBytes, ledgerPeak: accumulated.ledgerPeak };
}

/** The gradients of the effective batch's mean loss, summed over the micro-batches, by parameter name. */
async function accumulateGradients(setup: StepSetup, micro: readonly Batch[], step: number): Promise<Omit<StepOutcome, "gradNorm" | "gradientBytes"> & { grads: Record<string, tf.Tensor> }> {
  const { model, params, ledger } = setup;
  const byTfName = new Map(params.map((p) => [p.variable.name, p.name]));
  const counted = micro.reduce((s, b) => s + b.countedTokens, 0);
  const baseBytes = tf.memory().numBytes;
  const grads: Record<string, tf.Tensor> = {};
  let activationBytes = 0;
  let loss = 0;
  let ledgerPeak: Partial<Record<MemoryCategory, number>> | undefined;
  for (const batch of micro) {
    if (batch.countedTokens === 0) continue;
    const weight = batch.countedTokens / counted;
    const shape: [number, number] = [batch.batchSize, batch.time];
    const x = tf.tensor2d(batch.inputIds, shape, "int32");
    const y = tf.tensor2d(batch.targets, shape, "int32");
    const m = tf.tensor2d(batch.mask, shape, "float32");
    const compute = () =>
      tf.variableGrads(() => {
        const weighted = tf.mul(model.loss(x, y, m, { gradientCheckpointing: setup.gradientCheckpointing ?? false }), weight) as tf.Scalar;
        activationBytes = Math.max(activationBytes, tf.memory().numBytes - baseBytes);
        return weighted;
      }, params.map((p) => p.variable));
    let value: tf.Scalar;
    let g: Record<string, tf.Tensor>;
    if (ledger) {
      const held = { ...grads };
      const measured = await ledger.measure("forward+backward", compute, { transientCategory: "activations", extras: (r) => ({ gradients: { ...held, ...r.grads }, step: step + 1 }) });
      ({ value, grads: g } = measured.result);
      ledgerPeak ??= {};
      for (const c of MEMORY_CATEGORIES) ledgerPeak[c] = Math.max(ledgerPeak[c] ?? 0, measured.peak.bytes[c]);
    } else ({ value, grads: g } = compute());
    tf.dispose([x, y, m]);
    loss += (await value.data())[0]!;
    value.dispose();
    for (const [tfName, tensor] of Object.entries(g)) {
      const name = byTfName.get(tfName)!;
      const previous = grads[name];
      if (previous) {
        grads[name] = tf.add(previous, tensor);
        tf.dispose([previous, tensor]);
      } else grads[name] = tensor;
    }
  }
  return { grads, loss, activationBytes, ledgerPeak };
}
