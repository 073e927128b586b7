// The SwiGLU feed-forward gate (Shazeer 2020, "GLU Variants Improve Transformer"):
// down(silu(gate(x)) * up(x)); this file holds the elementwise part, as one differentiable op whose
// gradient is written out (the autodiff keeps gate and up, not sigmoid, silu and their gradients).
import * as tf from "@tensorflow/tfjs-core";
import { customOp, customOpFootprint } from "../ops/custom_op.js";
import type { Timeline, Traced } from "../ops/footprint.js";

/** silu(gate) * up for gate, up: [N, F] -> [N, F], with silu(x) = x * sigmoid(x). */
export function swiglu(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  return customOp<[tf.Tensor2D, tf.Tensor2D], tf.Tensor2D>({
    forward: (g, u) => tf.mul(tf.mul(g, tf.sigmoid(g)), u),
    save: (g, u) => [g, u],
    backward: (dy, saved) => {
      const [g, u] = saved as [tf.Tensor2D, tf.Tensor2D];
      // d silu(g) / dg = s (1 + g (1 - s)) with s = sigmoid(g). All [N, F]; each temporary is freed once read.
      const s = tf.sigmoid(g);
      const silu = tf.mul(g, s);
      const dUp = tf.mul(dy, silu);
      silu.dispose();
      const oneMinus = tf.sub(1, s);
      const gOneMinus = tf.mul(g, oneMinus);
      oneMinus.dispose();
      const inner = tf.add(gOneMinus, 1);
      gOneMinus.dispose();
      const dSilu = tf.mul(s, inner);
      tf.dispose([s, inner]);
      const dyUp = tf.mul(dy, u);
      const dGate = tf.mul(dSilu, dyUp);
      tf.dispose([dSilu, dyUp]);
      return [dGate, dUp];
    },
  })(gate, up);
}

/** swiglu's footprint (ops/footprint.ts) for gate, up: [N, F]: saves both; its gradient holds at most four [N, F] temporaries. */
export function swigluFootprint(t: Timeline, gate: Traced, up: Traced, rows: number, width: number): Traced {
  const size = rows * width;
  const forward = () => {
    t.alloc(size);
    t.alloc(size);
    return t.alloc(size);
  };
  const backward = () =>
    t.tidy(() => {
      const s = t.alloc(size);
      const silu = t.alloc(size);
      const dUp = t.gradient(size);
      t.free(silu);
      const oneMinus = t.alloc(size);
      const gOneMinus = t.alloc(size);
      t.free(oneMinus);
      const inner = t.alloc(size);
      t.free(gOneMinus);
      const dSilu = t.alloc(size);
      t.free(s, inner);
      const dyUp = t.alloc(size);
      const dGate = t.gradient(size);
      t.free(dSilu, dyUp);
      return [dGate, dUp];
    });
  return customOpFootprint(t, [gate[1], up[1]], t.value(size, true), forward, [size, size], backward);
}
