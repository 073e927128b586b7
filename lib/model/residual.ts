// The residual connection x + f(x) as one differentiable op that saves nothing: tf.add's own gradient
// keeps both inputs (for broadcasting) and makes a reshaped copy of dy for each.
import * as tf from "@tensorflow/tfjs-core";
import type { Timeline, Traced } from "../ops/footprint.js";

/** x + y for x, y of the same shape; the gradient passes dy to both. */
export function residualAdd<T extends tf.Tensor>(x: T, y: T): T {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xIn, yIn] = args as [T, T];
    // dy itself for x and a second handle on its buffer for y (a reshape copies nothing): the engine
    // may dispose one input's gradient when it accumulates into it, so they must be two tensor objects.
    return { value: tf.add(xIn, yIn) as T, gradFunc: (dy: tf.Tensor) => [dy, tf.reshape(dy, dy.shape)] };
  });
  return op(x, y) as T;
}

/** residualAdd's footprint (ops/footprint.ts) for x, y of `size` elements: saves nothing, passes dy to x and a reshape of it to y, and frees neither. */
export function residualFootprint(t: Timeline, x: Traced, y: Traced, size: number): Traced {
  const out = t.value(size, x[1].onPath || y[1].onPath);
  const h = t.alloc(size);
  t.record([x[1], y[1]], out, [], false, (dy) => [dy, t.gradient(size)]);
  return [h, out];
}
