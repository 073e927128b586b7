// The one AdamW update formula (Loshchilov & Hutter, decoupled weight decay), written op for op
// as torch.optim.AdamW's single-tensor path so results track PyTorch; every state form calls it.
import * as tf from "@tensorflow/tfjs-core";

/** Hyperparameters of one AdamW step for one parameter (bias corrections use its step count). */
export interface AdamWStepScalars {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step count of this parameter after this update. */
  step: number;
}

/** New parameter values and moments from one AdamW step. */
export interface AdamWStepResult {
  param: tf.Tensor1D;
  m: tf.Tensor1D;
  v: tf.Tensor1D;
}

/**
 * One AdamW step on flat float32 slices (elementwise, so any slicing of a parameter gives the same bits):
 * p <- p (1 - lr wd); m <- m + (1 - b1)(g - m); v <- b2 v + (1 - b2) g g;
 * p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 * Inputs are not disposed; the outputs are new tensors. All tensors are [n].
 */
export function adamwStep(param: tf.Tensor1D, grad: tf.Tensor1D, m: tf.Tensor1D, v: tf.Tensor1D, s: AdamWStepScalars): AdamWStepResult {
  const biasCorrection1 = 1 - s.beta1 ** s.step;
  const biasCorrection2Sqrt = Math.sqrt(1 - s.beta2 ** s.step);
  const stepSize = s.lr / biasCorrection1;
  return tf.tidy(() => {
    const decayed = s.weightDecay === 0 ? param : tf.mul(param, 1 - s.lr * s.weightDecay); // [n]
    const mNew = tf.add(m, tf.mul(tf.sub(grad, m), 1 - s.beta1)); // torch: exp_avg.lerp_(g, 1 - b1)
    const vNew = tf.add(tf.mul(v, s.beta2), tf.mul(tf.mul(grad, 1 - s.beta2), grad)); // addcmul_(g, g, 1 - b2)
    const denom = tf.add(tf.div(tf.sqrt(vNew), biasCorrection2Sqrt), s.eps);
    const paramNew = tf.add(decayed, tf.mul(tf.div(mNew, denom), -stepSize)); // addcdiv_(m, denom, -step_size)
    return { param: paramNew as tf.Tensor1D, m: mNew as tf.Tensor1D, v: vNew as tf.Tensor1D };
  });
}
