// A small model of DenseLinear layers (x -> L0 -> tanh -> L1 -> ... -> MSE against a fixed teacher),
// shared by the optimizer and memory tests; not a test file itself. Gradients are written out by hand
// (backprop through matMul and tanh) so these tests need no registered TF.js gradient kernels.
import * as tf from "@tensorflow/tfjs-core";
import { DenseLinear } from "../../../lib/model/linear.js";
import type { NamedVariable, Optimizer } from "../../../lib/optim/optimizer.js";
import { seededNormal } from "../../../lib/quant/random_normal.js";

/** The model, its data and a loss. */
export interface TinyModel {
  layers: DenseLinear[];
  params: NamedVariable[];
  x: tf.Tensor2D; // [B, dims[0]]
  y: tf.Tensor2D; // [B, dims.at(-1)]
  loss(): tf.Scalar;
  /** Loss and d loss / d W for every layer, keyed by parameter name (new tensors); rows [start, start + size) of the data, default all. */
  lossAndGrads(rows?: { start: number; size: number }): { loss: tf.Scalar; grads: Record<string, tf.Tensor> };
  dispose(): void;
}

/** Builds layers [dims[i+1], dims[i]] with weights ~ N(0, 1/in) and a teacher the model must fit. */
export function makeTinyModel(prefix: string, dims: number[], batch: number, seed = 1): TinyModel {
  const layers = dims.slice(1).map((out, i) => {
    const inp = dims[i]!;
    const init = tf.tensor2d(seededNormal(out * inp, seed + i, { std: 1 / Math.sqrt(inp) }), [out, inp]);
    const layer = new DenseLinear(init, { name: `${prefix}.layers.${i}`, trainable: true });
    init.dispose(); // the variable holds its own reference
    return layer;
  });
  const x = tf.tensor2d(seededNormal(batch * dims[0]!, seed + 100), [batch, dims[0]!]);
  const teacher = tf.tensor2d(seededNormal(dims.at(-1)! * dims[0]!, seed + 200, { std: 1 / Math.sqrt(dims[0]!) }), [dims.at(-1)!, dims[0]!]);
  // sin(3 x T^T) plus noise: a target the model cannot fit exactly, so losses level off above zero.
  const noise = tf.tensor2d(seededNormal(batch * dims.at(-1)!, seed + 300, { std: 0.3 }), [batch, dims.at(-1)!]);
  const y = tf.tidy(() => tf.add(tf.sin(tf.mul(tf.matMul(x, teacher, false, true), 3)), noise)) as tf.Tensor2D;
  noise.dispose();
  teacher.dispose();
  // hs[i] is the input of layer i; the last entry is the output.
  const forward = (input: tf.Tensor2D = x) => {
    const hs: tf.Tensor2D[] = [input];
    layers.forEach((layer, i) => {
      const z = layer.apply(hs[i]!); // [B, out]
      hs.push(i < layers.length - 1 ? tf.tanh(z) : z);
    });
    return hs;
  };
  return {
    layers,
    params: layers.map((l) => ({ name: l.options.name, variable: l.trainableVariables()[0]! })),
    x,
    y,
    loss: () => tf.tidy(() => tf.mean(tf.square(tf.sub(forward().at(-1)!, y)))) as tf.Scalar,
    lossAndGrads: (rows) =>
      tf.tidy(() => {
        const [xs, ys] = rows ? [tf.slice(x, [rows.start, 0], [rows.size, -1]), tf.slice(y, [rows.start, 0], [rows.size, -1])] : [x, y];
        const hs = forward(xs);
        const diff = tf.sub(hs.at(-1)!, ys); // [B, O]
        const loss = tf.mean(tf.square(diff)) as tf.Scalar;
        const grads: Record<string, tf.Tensor> = {};
        let dz = tf.mul(diff, 2 / diff.size) as tf.Tensor2D; // d loss / d z_last
        for (let i = layers.length - 1; i >= 0; i--) {
          grads[layers[i]!.options.name] = tf.matMul(dz, hs[i]!, true, false); // [out, B] x [B, in]
          if (i > 0) {
            const dh = tf.matMul(dz, layers[i]!.weight); // [B, in]
            dz = tf.mul(dh, tf.sub(1, tf.square(hs[i]!))) as tf.Tensor2D; // tanh'
          }
        }
        return { loss, grads };
      }),
    dispose: () => {
      layers.forEach((l) => l.dispose());
      tf.dispose([x, y]);
    },
  };
}

/** One training step: hand-written gradients, then the optimizer; returns the loss before the update. */
export function trainStep(model: TinyModel, optimizer: Optimizer, lr: number, rows?: { start: number; size: number }): number {
  const { loss, grads } = model.lossAndGrads(rows);
  optimizer.applyGradients(model.params, grads, lr);
  const value = loss.dataSync()[0]!;
  tf.dispose([loss, ...Object.values(grads)]);
  return value;
}
