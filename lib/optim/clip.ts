// Gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_ (coef = max / (norm + 1e-6), capped at 1).
import * as tf from "@tensorflow/tfjs-core";
import { InvalidArgumentError, expected } from "../errors.js";

/** Clipped gradients (new tensors the caller owns) and the global norm measured before clipping. */
export interface ClipResult {
  grads: Record<string, tf.Tensor>;
  /** Global L2 norm of the input gradients. */
  norm: number;
  /** Factor the gradients were multiplied by (1 when the norm was within maxNorm). */
  scale: number;
}

/**
 * Scales every gradient by min(1, maxNorm / (norm + 1e-6)) where norm is the L2 norm of all of them
 * together. The inputs stay owned by the caller; the returned tensors are new.
 */
export function clipByGlobalNorm(grads: Readonly<Record<string, tf.Tensor>>, maxNorm: number): ClipResult {
  if (!(Number.isFinite(maxNorm) && maxNorm > 0)) {
    throw new InvalidArgumentError("clipByGlobalNorm", expected("maxNorm to be a positive finite number", maxNorm));
  }
  const names = Object.keys(grads);
  if (names.length === 0) return { grads: {}, norm: 0, scale: 1 };
  const norm = tf.tidy(() => {
    const squares = names.map((name) => tf.sum(tf.square(grads[name]!))); // each []
    return tf.sqrt(tf.addN(squares)).dataSync()[0]!;
  });
  if (!Number.isFinite(norm)) {
    throw new InvalidArgumentError("clipByGlobalNorm", expected("finite gradients", `a global norm of ${norm}`, "Lower the learning rate or check the loss for NaN/Inf."));
  }
  const scale = Math.min(1, maxNorm / (norm + 1e-6));
  const out: Record<string, tf.Tensor> = {};
  for (const name of names) out[name] = scale === 1 ? tf.clone(grads[name]!) : tf.tidy(() => tf.mul(grads[name]!, scale));
  return { grads: out, norm, scale };
}
