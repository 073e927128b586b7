// What TensorFlow.js holds at the peak of one training forward+backward of lib/model's LLaMA (with
// LoRA or 4-bit layers), counted the way tf.memory().numBytes counts it: per live tensor handle.
// Rules of tfjs-core 4.x's engine (engine.ts, tape.ts) this walk follows op by op:
// 1. Every tensor a kernel's gradient needs (its gradConfig's inputsToSave / outputsToSave, or what a
//    customGrad saves) is cloned and kept until the backward ends: one handle per save, so a tensor
//    saved by three kernels counts three times (a clone shares its buffer on cpu and copies it on wasm;
//    tf.memory() counts the bytes either way). Weights saved by a matMul count too.
// 2. The backward keeps the gradient of every tensor on the path from the trainable variables to the
//    loss until it ends: one tensor per (kernel, input) pair, so an input used k times holds k.
// 3. A customGrad's gradFunc runs outside any tidy: every tensor it makes lives to the end, including
//    gradients of inputs nothing asked for (a frozen weight's dW) and the transposed copies
//    lib/model's matMulNN makes for its NN-only products.
// So the peak is at the end of the backward: saved tensors + intermediate gradients + temporaries.
// Assumes what lib/train does by default: one micro-batch per step, LoRA dropout 0. The walk mirrors
// lib/model's ops; tests/lib/memory/planner_tfjs.test.ts holds it to a MemoryLedger's measured peak.
import type { LinearShape, LlamaShape } from "./llama_presets.js";
import { blockLinears } from "./llama_presets.js";

/**
 * The TF.js backend whose code paths the walk follows: wasm (RoPE's rotate-half as a matMul, large
 * batched products split into 2-D ones), cpu, or tensorflow (tfjs-node: cpu's paths, except the
 * embedding's gradient, which only full training takes).
 */
export type TfjsBackendKind = "wasm" | "cpu" | "tensorflow";

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
  backend: TfjsBackendKind;
}

/** Elements held at the peak by kind (4 bytes each: float32 and int32 alike). */
export interface TapeCounts {
  /** Tensors saved for the backward (rule 1). */
  saved: number;
  /** Gradients of intermediates and of the trainable variables (rule 2). */
  gradients: number;
  /** Backward temporaries (rule 3, and gradFuncs that compute before their per-input closure). */
  temporaries: number;
}

/** The whole walk, and the share of one decoder block whose input is on the gradient path. */
export interface TfjsTapeElements extends TapeCounts {
  perLayer: TapeCounts;
}

/** Walks lib/model's forward (embedding, L blocks, final norm, tied or untied head, masked cross-entropy) and counts what TF.js keeps. */
export function tfjsTapeElements(setup: TfjsTapeSetup): TfjsTapeElements {
  const { shape, batch: B, seqLen: T, method, r, backend } = setup;
  const { hiddenSize: C, intermediateSize: F, numLayers: L, numHeads: H, numKvHeads: K, headDim: D, vocabSize: V } = shape;
  const N = B * T; // rows
  const G = H / K; // query heads per kv head
  const scores = B * H * T * T; // [B*K, G*T, T]
  const full = method === "full";
  const tally: TapeCounts = { saved: 0, gradients: 0, temporaries: 0 };
  let perLayer: TapeCounts = { ...tally };
  const linears = new Map(blockLinears(shape).map((l) => [l.module, l]));

  /**
   * A kernel with a registered gradient: `saved` elements kept, inputs as [elements, on the gradient
   * path], and `eager` elements its gradFunc makes before (outside) the per-input tidy.
   */
  const op = (saved: number, inputs: Array<[number, boolean]>, eager = 0): boolean => {
    tally.saved += saved;
    const onPath = inputs.some(([, x]) => x);
    if (onPath) {
      for (const [n, x] of inputs) if (x) tally.gradients += n;
      tally.temporaries += eager;
    }
    return onPath;
  };
  /** A customGrad: its gradFunc makes every input's gradient (wanted or not) plus `extra` temporaries. */
  const custom = (saved: number, inputs: Array<[number, boolean]>, extra: number): boolean => {
    tally.saved += saved;
    const onPath = inputs.some(([, x]) => x);
    if (!onPath) return false;
    for (const [n, x] of inputs) {
      if (x) tally.gradients += n;
      else tally.temporaries += n;
    }
    tally.temporaries += extra;
    return true;
  };
  /** Whether a product of this batched shape runs as separate 2-D products on wasm (matmul.ts GROUPED_MIN_WORK): no transposed copies. */
  const grouped = (groups: number, work: number) => backend === "wasm" && groups > 1 && work >= 32 * 32 * 32;

  /** matMulNN(a [m, k], W [o, k], false, true): saves a and W; the backward transposes dy [m, o] for dW. */
  const matMulWeight = (m: number, k: number, o: number, aX: boolean, wX: boolean): boolean =>
    custom(m * k + o * k, [[m * k, aX], [o * k, wX]], o * m);

  /** A Linear of lib/model or lib/lora: x [N, in] -> [N, out]. */
  const linear = (l: LinearShape, xX: boolean, quantized = method === "qlora"): boolean => {
    const { inFeatures: i, outFeatures: o } = l;
    const adapted = !full && setup.targets.includes(l.module);
    // Base: a dense float32 matMulNN, or QuantizedLinear's customGrad (saves nothing, returns dx only).
    const yX = quantized ? custom(0, [[N * i, xX]], 0) : matMulWeight(N, i, o, xX, full);
    if (!adapted) return yX;
    const down = matMulWeight(N, i, r, xX, true); // x A^T: [N, r]
    const up = matMulWeight(N, r, o, down, true); // (x A^T) B^T: [N, out]
    const scaled = op(N * o + 1, [[N * o, up], [1, false]]); // * scaling (Multiply saves both inputs)
    return op(2 * N * o, [[N * o, yX], [N * o, scaled]]); // base + delta (Add saves both inputs)
  };
  const rmsNorm = (width: number, xX: boolean): boolean => {
    const sq = op(N * width, [[N * width, xX]]); // Square saves x
    const mean = op(N * width, [[N * width, sq]]); // Mean saves x
    const eps = op(N + 1, [[N, mean], [1, false]]);
    const rs = op(N, [[N, eps]]); // Rsqrt saves x
    const xn = op(N * width + N, [[N * width, xX], [N, rs]]);
    return op(N * width + width, [[N * width, xn], [width, full]]);
  };
  const rope = (width: number, xX: boolean): boolean => {
    const cos = op(N * width + T * D, [[N * width, xX], [T * D, false]]);
    let rotated: boolean;
    if (backend === "wasm") {
      // rows [N*width/D, D] @ R [D, D] through matMulNN; the backward transposes R and the rows.
      const rows = op(N * width, [[N * width, xX]]);
      const product = custom(N * width + D * D, [[N * width, rows], [D * D, false]], D * D + N * width);
      rotated = op(N * width, [[N * width, product]]);
    } else {
      const halves = op(0, [[N * width, xX]]); // SplitV saves nothing
      const neg = op(0, [[(N * width) / 2, halves]]);
      rotated = op(N * width, [[(N * width) / 2, neg], [(N * width) / 2, halves]]); // Concat saves all inputs
    }
    const sin = op(N * width + T * D, [[N * width, rotated], [T * D, false]]);
    return op(2 * N * width, [[N * width, cos], [N * width, sin]]);
  };
  /** reshape, transpose, reshape (Reshape saves its input, Transpose nothing). */
  const heads = (width: number, xX: boolean): boolean => op(N * width, [[N * width, op(0, [[N * width, op(N * width, [[N * width, xX]])]])]]);
  const q = linears.get("q_proj")!;
  const kv = linears.get("k_proj")!.outFeatures;

  const block = (xX: boolean): boolean => {
    const h = rmsNorm(C, xX);
    const qX = op(N * q.outFeatures, [[N * q.outFeatures, rope(q.outFeatures, heads(q.outFeatures, linear(q, h)))]]); // rope, then reshape to [B*K, G*T, D]
    const kX = rope(kv, heads(kv, linear(linears.get("k_proj")!, h)));
    const vX = heads(kv, linear(linears.get("v_proj")!, h));
    const qs = op(N * q.outFeatures + 1, [[N * q.outFeatures, qX], [1, false]]); // q / sqrt(D)
    const work = G * T * T * D;
    const scoresX = custom(N * q.outFeatures + N * kv, [[N * q.outFeatures, qs], [N * kv, kX]], grouped(B * K, work) ? 0 : scores); // q k^T; dk transposes dy
    const masked = op(scores + G * T * T, [[scores, scoresX], [G * T * T, false]]);
    const probs = op(scores, [[scores, masked]], scores); // Softmax saves its output; its gradFunc makes dy * y eagerly
    const attended = custom(scores + N * kv, [[scores, probs], [N * kv, vX]], grouped(B * K, work) ? 0 : N * kv + scores); // p v; transposes v and p
    const o = linear(linears.get("o_proj")!, heads(q.outFeatures, attended));
    const x1 = op(2 * N * C, [[N * C, xX], [N * C, o]]);
    const h2 = rmsNorm(C, x1);
    const gate = linear(linears.get("gate_proj")!, h2);
    const up = linear(linears.get("up_proj")!, h2);
    const sig = op(N * F, [[N * F, gate]]); // Sigmoid saves its output
    const silu = op(2 * N * F, [[N * F, gate], [N * F, sig]]);
    const gated = op(2 * N * F, [[N * F, silu], [N * F, up]]);
    return op(2 * N * C, [[N * C, x1], [N * C, linear(linears.get("down_proj")!, gated)]]);
  };

  op(N, [[N, false]]); // ids reshaped to [N] (int32)
  // Embedding lookup (customGrad, saves the ids). Its backward (full training only) scatters rows on
  // the host backends, or multiplies by a one-hot [N, V] (int32, then float32) on tensorflow; tied to
  // the head, the table's two gradients are added last, so for a moment both and their sum are alive.
  const embeddingExtra = (backend === "tensorflow" ? 2 * N * V : 0) + (shape.tieWordEmbeddings ? V * C : 0);
  let x = custom(N, [[V * C, full], [N, false]], embeddingExtra);
  for (let l = 0; l < L; l++) {
    const start = { ...tally };
    x = block(x);
    if (l === L - 1) perLayer = { saved: tally.saved - start.saved, gradients: tally.gradients - start.gradients, temporaries: tally.temporaries - start.temporaries };
  }
  const h = rmsNorm(C, x);
  const logits = shape.tieWordEmbeddings ? matMulWeight(N, C, V, h, full) : linear({ module: "lm_head", inFeatures: C, outFeatures: V }, h, false); // toQloraModel leaves lm_head dense
  op(N, [[N, false]]); // targets reshaped (int32)
  op(N, [[N, false]]); // mask cast (saves nothing) and reshaped
  const logProbs = custom(N * V, [[N * V, logits]], 2 * N * V + N); // logSoftmax; its backward: exp, sum, mul (the sub is the gradient)
  op(N, [[N, false]]); // one-hot (saves the int32 indices); its cast saves nothing
  const picked = op(2 * N * V, [[N * V, logProbs], [N * V, false]]);
  // Sum's gradFunc makes reshape(dy) and ones(x) eagerly.
  const nll = op(0, [[N, op(N * V, [[N * V, picked]], N * V + N)]]); // sum over V (saves x), neg
  op(N + 2, [[N, false]]); // sum(mask), maximum(., 1)
  const weighted = op(2 * N, [[N, nll], [N, false]]);
  const mean = op(2, [[1, op(N, [[N, weighted]], N + 1)], [1, false]]); // sum, div
  op(2, [[1, mean], [1, false]]); // the loop's mul by the micro-batch weight
  tally.gradients += 1; // dy = ones for the loss
  return { ...tally, perLayer };
}
