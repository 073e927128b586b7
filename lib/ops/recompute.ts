// Gradient checkpointing of one function (Chen et al. 2016, "Training Deep Nets with Sublinear Memory
// Cost"; PyTorch's torch.utils.checkpoint): its forward runs with the tape off, so the autodiff keeps
// nothing of it but a copy of its input; its gradient runs the forward again, this time on a tape of
// its own, and differentiates that. Built on customOp (custom_op.ts): the input's copy and the
// incoming gradient are freed as soon as the recomputed gradient is made.
//
// TF.js's engine (tfjs-core engine.ts gradients()) keeps one active tape: a gradient computed inside
// another's backward starts a fresh one, and at its end sets it to null, so the outer backward would
// lose the list it frees its saved tensors from. The recompute puts the outer tape back once done.
import * as tf from "@tensorflow/tfjs-core";
import type { BackwardReplay, Handle, TapeValue, Timeline, Traced } from "./footprint.js";
import { customOp, customOpFootprint } from "./custom_op.js";

/** Hooks around the recompute, for state the forward advances (a dropout layer's seed counter). */
export interface RecomputeHooks {
  /** Called before the forward; its result is handed to `beforeRecompute`. */
  captureState?: () => unknown;
  /** Puts the state back as it was before the forward, so the recompute draws what the forward drew; returns how to restore it after. */
  beforeRecompute?: (state: unknown) => () => void;
}

/**
 * `fn(x)`, differentiable in `x` and in `params` (the trainable variables `fn` reads, passed so their
 * gradients come back), holding for the backward only a copy of `x`. Every tensor `fn` reads besides
 * `x` and `params` must outlive the backward (weights), or be made inside `fn`.
 */
export function recomputed<T extends tf.Tensor>(fn: (x: T) => T, x: T, params: readonly tf.Variable[], hooks: RecomputeHooks = {}): T {
  const state = hooks.captureState?.();
  const op = customOp<tf.Tensor[], T>({
    forward: (input) => fn(input as T),
    save: (input) => [input!],
    backward: (dy, [input]) => {
      const restore = hooks.beforeRecompute?.(state);
      try {
        return withOwnTape(() => tf.grads((...args: tf.Tensor[]) => fn(args[0] as T))([input!, ...params], dy));
      } finally {
        restore?.();
      }
    },
  });
  return op(x, ...params);
}

/** Runs `fn` (which computes gradients) and puts the engine's active tape back as it found it. */
function withOwnTape<R>(fn: () => R): R {
  const state = tf.engine().state;
  const outer = state.activeTape;
  try {
    return fn();
  } finally {
    state.activeTape = outer;
  }
}

/**
 * recomputed's footprint: the forward replayed with the tape off (`forward` returns the output's
 * handle), a copy of the input (`inputSize` elements) kept; its gradient replays `recompute` on a tape
 * of its own (the forward again, then its backward from dy) and keeps only the gradients it returns.
 */
export function recomputedFootprint(t: Timeline, inputs: TapeValue[], output: TapeValue, forward: () => Handle, inputSize: number, recompute: BackwardReplay): Traced {
  return customOpFootprint(t, inputs, output, () => t.untaped(forward), [inputSize], (dy, saved) => t.ownTape(() => recompute(dy, saved)));
}
