// The residual connection x + f(x) as one differentiable op that saves nothing: tf.add's own gradient
// keeps both inputs (for broadcasting) and makes a reshaped copy of dy for each.
import * as tf from "@tensorflow/tfjs-core";

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
