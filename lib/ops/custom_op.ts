// A differentiable op with a hand-written gradient (tf.customGrad) that holds only what its gradient
// needs, for as long as it needs it. TF.js's engine (tfjs-core engine.ts / tape.ts) runs a customGrad's
// gradient outside any tidy and keeps, until the whole backward ends, every tensor that gradient makes,
// the copies saved for it, and the gradient of its output. Here the gradient runs in a tidy (only the
// returned gradients survive), the saved copies are freed as soon as it returns (they serve no other
// op), and so is the incoming gradient dy once it has been used (see releaseGradient).
import * as tf from "@tensorflow/tfjs-core";
import type { BackwardReplay, Handle, TapeValue, Timeline, Traced } from "./footprint.js";

/** What {@link customOp} builds an op from. */
export interface CustomOpSpec<I extends tf.Tensor[], O extends tf.Tensor> {
  /** The value, computed in a tidy. */
  forward: (...inputs: I) => O;
  /** Tensors the gradient reads (inputs or others that may be gone by the backward); the engine keeps copies. */
  save?: (...inputs: I) => tf.Tensor[];
  /** The gradient of every input, in input order, computed in a tidy from dy and the saved copies. */
  backward: (dy: O, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
}

/**
 * Frees the gradient of an op's output once the op's own gradient has read it. The engine keeps every
 * intermediate gradient until the backward ends, but reads each one only once: when it runs the
 * gradient of the op that produced that tensor (tape.ts backpropagateGradients). A dy made before the
 * op's output (an id below it) is a caller's seed gradient (tf.grads(f)(xs, dy)) and is left alone.
 */
export function releaseGradient(dy: tf.Tensor, outputId: number): void {
  if (dy.id > outputId) dy.dispose();
}

/** Builds a differentiable op from a forward and its hand-written gradient (see the file header). */
export function customOp<I extends tf.Tensor[], O extends tf.Tensor>(spec: CustomOpSpec<I, O>): (...inputs: I) => O {
  return (...inputs: I): O => {
    let outputId = -1;
    const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const ins = args.slice(0, -1) as I;
      const save = args[args.length - 1] as tf.GradSaveFunc;
      const value = tf.tidy(() => spec.forward(...ins));
      if (spec.save) save(spec.save(...ins)); // after the forward, so its temporaries are gone before the copies are made
      outputId = value.id;
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[] | undefined) => {
          const grads = tf.tidy(() => spec.backward(dy as O, saved ?? []));
          if (saved) tf.dispose(saved);
          releaseGradient(dy, outputId);
          return grads;
        },
      };
    });
    return op(...inputs) as O;
  };
}


/**
 * customOp's footprint (footprint.ts): the forward replayed in a tidy (`forward` returns the value's
 * handle), then copies of the `saved` sizes, which its gradient frees, with dy, once it has run.
 */
export function customOpFootprint(t: Timeline, inputs: TapeValue[], output: TapeValue, forward: () => Handle, saved: number[], backward: BackwardReplay): Traced {
  const h = t.tidy(forward);
  t.record(inputs, output, saved, true, backward);
  return [h, output];
}
