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
  // Each intermediate is released as soon as it is used, so an update holds about 4 extra [n] tensors at
  // once instead of a dozen (the tidy only collects the scalar constants).
  return tf.tidy(() => {
    const use = <T extends tf.Tensor>(result: T, ...done: tf.Tensor[]): T => {
      for (const t of done) t.dispose();
      return result;
    };
    const gm = tf.sub(grad, m);
    const mStep = use(tf.mul(gm, 1 - s.beta1), gm);
    const mNew = use(tf.add(m, mStep), mStep) as tf.Tensor1D; // torch: exp_avg.lerp_(g, 1 - b1)
    const vDecay = tf.mul(v, s.beta2);
    const gScaled = tf.mul(grad, 1 - s.beta2);
    const gSquare = use(tf.mul(gScaled, grad), gScaled);
    const vNew = use(tf.add(vDecay, gSquare), vDecay, gSquare) as tf.Tensor1D; // addcmul_(g, g, 1 - b2)
    const root = tf.sqrt(vNew);
    const scaled = use(tf.div(root, biasCorrection2Sqrt), root);
    const denom = use(tf.add(scaled, s.eps), scaled);
    const ratio = use(tf.div(mNew, denom), denom);
    const update = use(tf.mul(ratio, -stepSize), ratio);
    const decayed = s.weightDecay === 0 ? param : tf.mul(param, 1 - s.lr * s.weightDecay); // [n]
    const paramNew = use(tf.add(decayed, update), update, ...(decayed === param ? [] : [decayed])) as tf.Tensor1D; // addcdiv_(m, denom, -step_size)
    return { param: paramNew, m: mNew, v: vNew };
  });
}
