// What TensorFlow.js holds at the peak of one training forward+backward of lib/model's LLaMA (with
// LoRA or 4-bit layers), counted as tf.memory().numBytes counts it: lib/model's forward composed from
// each op's footprint, declared beside the op's gradient, on lib/ops' Timeline (footprint.ts gives the
// engine's rules). The forward runs each decoder block in a tidy (only its output and the saved copies
// outlive it); the peak is wherever the timeline's total is highest: in the loss's forward when little
// is on the path (full training), late in the backward when many gradients are held (LoRA). Assumes
// what lib/train does by default: one micro-batch per step, LoRA dropout 0. With gradient checkpointing
// each block is a recomputed op (lib/ops/recompute.ts): its forward keeps only a copy of its input, and
// its gradient replays the block's forward and backward on a tape of its own, one block at a time.
// tests/lib/plan/planner_tfjs.test.ts holds this walk to a MemoryLedger's measured peak.
import { embeddingFootprint } from "../model/embedding.js";
import { maskedCrossEntropyFootprint } from "../model/loss.js";
import { swigluFootprint } from "../model/mlp.js";
import { quantizedLinearFootprint } from "../model/quantized_linear.js";
import { residualFootprint } from "../model/residual.js";
import { rmsNormFootprint } from "../model/rms_norm.js";
import { selfAttentionFootprint } from "../model/attention.js";
import { Timeline, type TapeCounts, type TapePeak, type TfjsBackendKind, type Traced } from "../ops/footprint.js";
import { lowRankUpdateFootprint } from "../ops/low_rank.js";
import { matMulFrozenFootprint, matMulNNFootprint } from "../ops/matmul.js";
import { recomputedFootprint } from "../ops/recompute.js";
import type { LinearShape, LlamaShape } from "./llama_presets.js";
import { blockLinears } from "./llama_presets.js";

export type { TapeCounts, TfjsBackendKind };

/** A training micro-batch on TF.js. */
export interface TfjsTapeSetup {
  shape: LlamaShape;
  batch: number;
  seqLen: number;
  /** lora / qlora: only A and B train (the base is frozen; qlora's block linears are 4-bit); full: every weight. */
  method: "lora" | "qlora" | "full";
  r: number;
  /** Block linears (module suffixes, e.g. "q_proj") that carry LoRA adapters. */
  targets: readonly string[];
  /** The backend whose code paths the walk follows (tensorflow is tfjs-node: cpu's paths, except the embedding's gradient). */
  backend: TfjsBackendKind;
  /** Products of at least NATIVE_MIN_WORK multiply-adds run on the native engine (only their output is allocated). */
  nativeProducts?: boolean;
  /** lora: the projections (the untied head too) are 16-bit (toLora16Model), widened for each product as a 4-bit weight is dequantized. */
  base16?: boolean;
  /** Each decoder block recomputed in the backward (LlamaModel.loss's gradientCheckpointing; default false). */
  gradientCheckpointing?: boolean;
}

/**
 * The walk at its peak, and the share of the last decoder block's tensors in it. Gradients include the
 * trainable variables', counted whole even at a peak that comes before they exist (what else is held
 * is then counted that much less).
 */
export type TfjsTapeElements = TapePeak;

/** Walks lib/model's training forward (embedding, L blocks, final norm, tied or untied head, masked cross-entropy) and backward, and returns what TF.js holds at the peak. */
export function tfjsTapeElements(setup: TfjsTapeSetup): TfjsTapeElements {
  const { shape, batch: B, seqLen: T, method, r, backend } = setup;
  const { hiddenSize: C, numLayers: L, numHeads: H, numKvHeads: K, headDim: D, vocabSize: V } = shape;
  const N = B * T; // rows
  const G = H / K; // query heads per kv head
  const full = method === "full";
  const t = new Timeline(backend, L - 1, setup.nativeProducts === true);
  const linears = new Map(blockLinears(shape).map((l) => [l.module, l]));

  /** A Linear of lib/model or lib/lora: x [N, in] -> [N, out] (LoraLinear.apply: lowRankUpdate(base(x), x, A, B, scaling) in a tidy). */
  const linear = (l: LinearShape, x: Traced, quantized = method === "qlora" || setup.base16 === true): Traced => {
    const { inFeatures: i, outFeatures: o } = l;
    const base = () => (quantized ? quantizedLinearFootprint(t, x, N, i, o) : full ? matMulNNFootprint(t, x, t.value(o * i, true), N, i, o) : matMulFrozenFootprint(t, x, N, i, o));
    if (full || !setup.targets.includes(l.module)) return base();
    return t.tidy(() => lowRankUpdateFootprint(t, base(), x, N, i, o, r));
  };
  const module = (name: string) => linears.get(name)!;
  const F = module("gate_proj").outFeatures;
  const block = (x: Traced): Traced => {
    const h = rmsNormFootprint(t, x, N, C, full);
    const attended = selfAttentionFootprint(t, linear(module("q_proj"), h), linear(module("k_proj"), h), linear(module("v_proj"), h), { batch: B, time: T, kvHeads: K, group: G, headDim: D });
    const x1 = residualFootprint(t, x, linear(module("o_proj"), attended), N * C);
    const h2 = rmsNormFootprint(t, x1, N, C, full);
    const gated = swigluFootprint(t, linear(module("gate_proj"), h2), linear(module("up_proj"), h2), N, F);
    return residualFootprint(t, x1, linear(module("down_proj"), gated), N * C);
  };

  const tables = 2 * T * D + (T > 1 ? G * T * T : 0); // RoPE tables and causal mask
  const blockTrains = full || setup.targets.length > 0;
  /** A block recomputed in the backward: it builds its own tables, forward and recompute alike. */
  const checkpointedBlock = (input: Traced): Traced => {
    const params = t.value(0, blockTrains); // stands for the block's trainable variables (their gradients are the recompute's leaves)
    const output = t.value(N * C, input[1].onPath || blockTrains);
    const withTables = (x: Traced) => {
      t.alloc(tables);
      return block(x);
    };
    return recomputedFootprint(t, [input[1], params], output, () => withTables(input)[0], N * C, (dy, [copy]) => {
      const x: Traced = [copy!, t.value(N * C, true)]; // tf.grads differentiates in the saved input too
      const y = t.tidy(() => withTables(x));
      t.backward(y[1], dy);
      return [x[1].grad];
    });
  };

  // The loss's tidy: model.loss (hidden states, head, cross-entropy), then lib/train's weighting.
  const [, nll] = t.tidy((): Traced => {
    if (!setup.gradientCheckpointing) t.alloc(tables);
    t.alloc(N); // ids reshaped (int32)
    const table = t.value(V * C, full);
    let x = embeddingFootprint(t, table, N, V, C);
    for (let l = 0; l < L; l++) {
      const input = x;
      t.layer = l;
      x = setup.gradientCheckpointing ? checkpointedBlock(input) : t.tidy(() => block(input));
    }
    t.layer = -1;
    const hFinal = rmsNormFootprint(t, x, N, C, full);
    const logits: Traced = shape.tieWordEmbeddings
      ? full
        ? matMulNNFootprint(t, hFinal, table, N, C, V)
        : matMulFrozenFootprint(t, hFinal, N, C, V)
      : linear({ module: "lm_head", inFeatures: C, outFeatures: V }, hFinal, setup.base16 === true); // toQloraModel leaves lm_head dense; toLora16Model stores it in 16 bits
    t.alloc(N); // targets reshaped (int32)
    t.alloc(2 * N); // mask cast and reshaped
    return maskedCrossEntropyFootprint(t, logits, N, V); // the loss, out of the tidy
  });
  // lib/train multiplies the loss by the micro-batch's weight (a TF.js Multiply: saves both scalars, keeps them and dy).
  const weighted = t.value(1, true);
  t.alloc(1);
  t.record([nll], weighted, [1, 1], false, () => [t.gradient(1)]);
  t.backward(weighted);
  const peak = t.result();
  // A MemoryLedger files the trainable variables' gradients apart (they outlive the step) and takes them
  // off the peak; where the peak comes before they exist (in the forward), count them as held and take
  // as much off what else is held, so each count stays what it says.
  const linearSize = (l: LinearShape) => l.inFeatures * l.outFeatures;
  const trainable = full
    ? V * C * (shape.tieWordEmbeddings ? 1 : 2) + C + L * (2 * C + blockLinears(shape).reduce((n, l) => n + linearSize(l), 0))
    : L * blockLinears(shape).filter((l) => setup.targets.includes(l.module)).reduce((n, l) => n + r * (l.inFeatures + l.outFeatures), 0);
  let deficit = Math.max(0, trainable - peak.gradients);
  peak.gradients += deficit;
  for (const kind of ["temporaries", "saved"] as const) {
    const taken = Math.min(deficit, peak[kind]);
    peak[kind] -= taken;
    deficit -= taken;
  }
  return peak;
}
