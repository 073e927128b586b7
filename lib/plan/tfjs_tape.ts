// What TensorFlow.js holds at the peak of one training forward+backward of lib/model's LLaMA (with
// LoRA or 4-bit layers), counted the way tf.memory().numBytes counts it: per live tensor handle (a
// reshape is a second handle on the same buffer and counts again). A timeline of lib/model's and
// lib/lora's ops, replayed tensor by tensor, under the rules of tfjs-core 4.x's engine (engine.ts, tape.ts):
// 1. A tape op's saved tensors (a kernel's gradConfig inputsToSave / outputsToSave, or what a customGrad
//    saves) are copies kept until the backward ends. lib/model's ops (custom_op.ts) free theirs as soon as
//    their gradient has run; TF.js's own kernels (lib/train's loss weighting Multiply) keep them to the end.
// 2. The gradient of a tensor is kept from when its first consumer's gradient makes it until the backward
//    ends. A tensor used k times holds k tensors (each later contribution, plus the running sum). lib/model's
//    ops free the summed gradient of their output once they have read it; TF.js's kernels do not.
// 3. Gradients a customGrad makes for inputs off the gradient path are never read and live to the end.
// 4. Inside tf.tidy everything an op makes lives until the tidy ends; lib/model's gradients free each
//    temporary once read, so their peak is a few tensors of their largest shape.
// The forward runs each decoder block in a tidy (only its output and the saved copies outlive it); the
// peak is wherever the timeline's total is highest: in the loss's forward when little is on the path (full
// training), late in the backward when many gradients are held (LoRA). Assumes what lib/train does by
// default: one micro-batch per step, LoRA dropout 0. tests/lib/plan/planner_tfjs.test.ts holds this
// walk to a MemoryLedger's measured peak.
import { isGroupedProduct, productPlan } from "../ops/matmul.js";
import type { LinearShape, LlamaShape } from "./llama_presets.js";
import { blockLinears } from "./llama_presets.js";

/**
 * The TF.js backend whose code paths the walk follows: wasm (NN-only products, large batched products
 * split into 2-D ones, RoPE's rotate-half as a matMul), cpu, or tensorflow (tfjs-node: cpu's paths,
 * except the embedding's gradient, which only full training takes).
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
  /** Tensors saved for the backward and not yet freed (rule 1). */
  saved: number;
  /**
   * Gradients of intermediates (rules 2 and 3) and of the trainable variables, these counted whole
   * even at a peak that comes before they exist (what else is held is then counted that much less).
   */
  gradients: number;
  /** Forward outputs still in scope, and temporaries of the op running at the peak (rule 4). */
  temporaries: number;
}

/** The whole walk at its peak, and the share of the last decoder block's tensors in it. */
export interface TfjsTapeElements extends TapeCounts {
  perLayer: TapeCounts;
}

type Bucket = keyof TapeCounts;

/** One tensor handle on the timeline. */
interface Handle {
  size: number;
  bucket: Bucket;
  /** The decoder block that made it (-1 outside the blocks). */
  layer: number;
  live: boolean;
}

/** A forward tensor that the backward may give a gradient. */
interface Value {
  size: number;
  onPath: boolean;
  /** The running gradient (rule 2), or null before its first contribution. */
  grad: Handle | null;
}

/** A tape op: what it saved, and its gradient as a replay of its allocations. */
interface TapeOp {
  /** The decoder block it belongs to (-1 outside). */
  layer: number;
  inputs: Value[];
  output: Value;
  saved: Handle[];
  /** A lib/model op (custom_op.ts): frees its saved copies and its output's gradient after its gradient. */
  lean: boolean;
  /** Replays the gradient given dy; returns one gradient per input (null where the op makes none). */
  backward: (dy: Handle) => (Handle | null)[];
}

/** Replays allocations and frees, tidy scopes and the tape, and records the highest total. */
class Timeline {
  private readonly live: TapeCounts = { saved: 0, gradients: 0, temporaries: 0 };
  private readonly perLayerLive: TapeCounts = { saved: 0, gradients: 0, temporaries: 0 };
  private peakTotal = -1;
  private peak: TfjsTapeElements = { saved: 0, gradients: 0, temporaries: 0, perLayer: { saved: 0, gradients: 0, temporaries: 0 } };
  private readonly scopes: Handle[][] = [[]];
  readonly tape: TapeOp[] = [];
  /** The decoder block being replayed (-1 outside), for the per-layer share. */
  layer = -1;
  /** The block whose share is reported. */
  constructor(private readonly reportedLayer: number) {}

  /** A new handle of `size` elements, owned by the current scope (or by nobody: kept copies and gradients). */
  alloc(size: number, bucket: Bucket = "temporaries", scoped = bucket === "temporaries"): Handle {
    const h: Handle = { size, bucket, layer: this.layer, live: true };
    if (scoped) this.scopes.at(-1)!.push(h);
    this.live[bucket] += size;
    if (h.layer === this.reportedLayer) this.perLayerLive[bucket] += size;
    this.note();
    return h;
  }

  free(...handles: (Handle | null | undefined)[]): void {
    for (const h of handles) {
      if (!h || !h.live) continue;
      h.live = false;
      this.live[h.bucket] -= h.size;
      if (h.layer === this.reportedLayer) this.perLayerLive[h.bucket] -= h.size;
    }
  }

  /** A handle changes kind (a temporary returned as a gradient). */
  move(h: Handle, bucket: Bucket): Handle {
    this.live[h.bucket] -= h.size;
    this.live[bucket] += h.size;
    if (h.layer === this.reportedLayer) {
      this.perLayerLive[h.bucket] -= h.size;
      this.perLayerLive[bucket] += h.size;
    }
    h.bucket = bucket;
    return h;
  }

  /** tf.tidy: everything `fn` allocates in its scope is freed at the end, except the handles it returns. */
  tidy<T>(fn: () => T): T {
    this.scopes.push([]);
    const result = fn();
    const mine = this.scopes.pop()!;
    const kept = new Set<unknown>(Array.isArray(result) ? result : [result]);
    for (const h of mine) if (kept.has(h)) this.scopes.at(-1)!.push(h);
    this.free(...mine.filter((h) => !kept.has(h)));
    return result;
  }

  /** `size` elements made and freed within one kernel's reach (a temporary the next kernel frees). */
  spike(size: number): void {
    this.free(this.alloc(size));
  }

  private note(): void {
    const total = this.live.saved + this.live.gradients + this.live.temporaries;
    if (total > this.peakTotal) {
      this.peakTotal = total;
      this.peak = { ...this.live, perLayer: { ...this.perLayerLive } };
    }
  }

  result(): TfjsTapeElements {
    return { ...this.peak, perLayer: { ...this.peak.perLayer } };
  }

  /** The backward: tape ops in reverse, for those with an input on the gradient path (engine.ts gradients). */
  backward(loss: Value): void {
    loss.grad = this.alloc(1, "gradients", false); // dy = ones
    for (let i = this.tape.length - 1; i >= 0; i--) {
      const op = this.tape[i]!;
      if (!op.inputs.some((x) => x.onPath) || !op.output.grad) continue;
      const dy = op.output.grad;
      this.layer = op.layer;
      const grads = op.backward(dy);
      op.inputs.forEach((x, j) => {
        const g = grads[j];
        if (!g) return;
        this.move(g, x.onPath ? "gradients" : "temporaries"); // off the path: made and never read (rule 3)
        if (!x.onPath) return;
        if (!x.grad) x.grad = g;
        else {
          // The engine adds each later contribution into a new running sum and frees the old sum.
          const sum = this.alloc(x.size, "gradients", false);
          this.free(x.grad);
          x.grad = sum;
        }
      });
      if (op.lean) {
        this.free(...op.saved);
        if (!grads.includes(dy)) this.free(dy);
      }
    }
  }
}

/** Walks lib/model's training forward (embedding, L blocks, final norm, tied or untied head, masked cross-entropy) and backward, and returns what TF.js holds at the peak. */
export function tfjsTapeElements(setup: TfjsTapeSetup): TfjsTapeElements {
  const { shape, batch: B, seqLen: T, method, r, backend } = setup;
  const { hiddenSize: C, numLayers: L, numHeads: H, numKvHeads: K, headDim: D, vocabSize: V } = shape;
  const N = B * T; // rows
  const G = H / K; // query heads per kv head
  const full = method === "full";
  const wasm = backend === "wasm";
  const sim = new Timeline(L - 1);
  const linears = new Map(blockLinears(shape).map((l) => [l.module, l]));

  const value = (size: number, onPath: boolean): Value => ({ size, onPath, grad: null });
  /** A forward op's output handle in the current scope, as a tape value. */
  const output = (size: number, onPath: boolean): [Handle, Value] => [sim.alloc(size), value(size, onPath)];
  /** Records a tape op (saved copies kept: no scope frees them). */
  const record = (inputs: Value[], out: Value, saved: number[], lean: boolean, backward: TapeOp["backward"]) => {
    sim.tape.push({ layer: sim.layer, inputs, output: out, saved: saved.map((n) => sim.alloc(n, "saved", false)), lean, backward });
  };
  /** Gradient handles are made as temporaries of the op's scope, then handed to the tape (Timeline.backward). */
  const grad = (size: number) => sim.alloc(size, "temporaries", false);

  /**
   * productNN's footprint: op(a) [m, k] x op(b) [k, n] (2-D, or per matrix of a batch of `groups`),
   * allocated in the current scope; returns the product's handle. On wasm as matmul.ts's productPlan
   * says: transposed copies in a tidy, per-matrix operands one at a time (grouped), or the thin kernel's
   * output; elsewhere just the product.
   */
  const product = (m: number, k: number, n: number, transposeA: boolean, transposeB: boolean, groups: number | null = null): Handle => {
    const count = groups ?? 1;
    if (!wasm) return sim.alloc(count * m * n);
    const grouped = groups !== null && isGroupedProduct(groups, m, k, n);
    const asWritten = (mm: number, kk: number, nn: number, tA: boolean, tB: boolean): Handle => {
      if (grouped) {
        const out = sim.alloc(count * mm * nn);
        sim.free(sim.alloc(mm * kk), sim.alloc(kk * nn), sim.alloc(mm * nn)); // one matrix's operands and product
        return out;
      }
      return sim.tidy(() => {
        if (tA) sim.alloc(count * mm * kk);
        if (tB) sim.alloc(count * kk * nn);
        return sim.alloc(count * mm * nn);
      });
    };
    switch (productPlan(m, k, n, transposeA, transposeB, groups, true)) {
      case "thin":
        return sim.alloc(m * n);
      case "thin-transposed":
        return sim.tidy(() => {
          sim.alloc(n * m);
          return sim.alloc(m * n);
        });
      case "as-written":
        return asWritten(m, k, n, transposeA, transposeB);
      case "swapped":
        return sim.tidy(() => {
          asWritten(n, k, m, !transposeB, !transposeA);
          return sim.alloc(count * m * n); // the transposed result
        });
    }
  };

  /** customOp's forward: the value computed in a tidy, then the copies saved. */
  const customForward = (compute: () => Handle): Handle => sim.tidy(compute);

  /** matMulFrozen(x [N, in], w [out, in]^T): no saved copies; dx = dy w. */
  const matMulFrozen = (x: [Handle, Value], inF: number, outF: number): [Handle, Value] => {
    const out = value(N * outF, x[1].onPath);
    const h = customForward(() => product(N, inF, outF, false, true));
    record([x[1]], out, [], true, () => [sim.tidy(() => product(N, outF, inF, false, false))]);
    return [h, out];
  };

  /** matMulNN(a [m, k], b [n, k], false, true): saves a and b; da = dy b, db = dy^T a. */
  const matMulNN = (a: [Handle, Value], b: Value, m: number, k: number, n: number): [Handle, Value] => {
    const out = value(m * n, a[1].onPath || b.onPath);
    const h = customForward(() => product(m, k, n, false, true));
    record([a[1], b], out, [m * k, n * k], true, () =>
      sim.tidy(() => [product(m, n, k, false, false), product(n, m, k, true, false)]),
    );
    return [h, out];
  };

  /** QuantizedLinear (lib/quant): dequantize and multiply in a tidy; its gradient dequantizes again. Nothing saved. */
  const quantizedLinear = (x: [Handle, Value], inF: number, outF: number): [Handle, Value] => {
    const out = value(N * outF, x[1].onPath);
    const h = customForward(() => {
      sim.alloc(outF * inF); // the dequantized weight [out, in]
      return product(N, inF, outF, false, true);
    });
    record([x[1]], out, [], true, () =>
      sim.tidy(() => {
        sim.alloc(outF * inF); // dequantized again
        return [product(N, outF, inF, false, false)];
      }),
    );
    return [h, out];
  };

  /** A TF.js kernel with a registered gradient: saves copies, keeps them and dy to the end. */
  const kernel = (inputs: Value[], out: Value, saved: number[], backward: TapeOp["backward"]) => record(inputs, out, saved, false, backward);

  /** A Linear of lib/model or lib/lora: x [N, in] -> [N, out] (LoraLinear.apply: lowRankUpdate(base(x), x, A, B, scaling) in a tidy). */
  const linear = (l: LinearShape, x: [Handle, Value], quantized = method === "qlora"): [Handle, Value] => {
    const { inFeatures: i, outFeatures: o } = l;
    const adapted = !full && setup.targets.includes(l.module);
    const base = () => (quantized ? quantizedLinear(x, i, o) : full ? matMulNN(x, value(o * i, true), N, i, o) : matMulFrozen(x, i, o));
    if (!adapted) return base();
    return sim.tidy(() => {
      const y = base();
      const out = value(N * o, true);
      const h = customForward(() => {
        product(N, i, r, false, true); // x A^T: [N, r]
        product(N, r, o, false, true); // (x A^T) B^T: [N, out]
        sim.alloc(N * o); // * scaling
        return sim.alloc(N * o); // y + .
      });
      // lowRankUpdate saves x, A and B; its gradient recomputes x A^T.
      record([y[1], x[1], value(r * i, true), value(o * r, true)], out, [N * i, r * i, o * r], true, () =>
        sim.tidy(() => {
          const down = product(N, i, r, false, true); // x A^T, recomputed
          const dUp = sim.alloc(N * o); // dy * scaling
          const dDown = product(N, o, r, false, false); // dUp B: [N, r]
          const dB = product(o, N, r, true, false); // dUp^T (x A^T): [out, r]
          sim.free(dUp, down);
          const dA = product(r, N, i, true, false); // dDown^T x: [r, in]
          const dx = product(N, r, i, false, false); // dDown A: [N, in]
          sim.free(dDown);
          return [sim.alloc(N * o), dx, dA, dB]; // y's gradient: a reshape of dy (a handle of its own)
        }),
      );
      return [h, out] as [Handle, Value];
    }) as [Handle, Value];
  };

  /** rmsNorm(x [N, width], w): saves x and w; its gradient holds at most three [N, width] temporaries. */
  const rmsNorm = (x: [Handle, Value], width: number): [Handle, Value] => {
    const w = value(width, full);
    const out = value(N * width, x[1].onPath || full);
    const h = customForward(() => {
      sim.alloc(N * width); // square
      sim.alloc(3 * N); // mean, + eps, rsqrt
      sim.alloc(N * width); // x * rsqrt(.)
      return sim.alloc(N * width); // * w
    });
    record([x[1], w], out, [N * width, width], true, () =>
      sim.tidy(() => {
        const r = sim.tidy(() => {
          sim.alloc(N * width); // square
          sim.alloc(2 * N); // mean, + eps
          return sim.alloc(N); // rsqrt
        });
        const xhat = sim.alloc(N * width);
        const dw = sim.tidy(() => {
          sim.alloc(N * width); // dy * xhat
          sim.alloc(N * width); // reshaped
          return grad(width);
        });
        const g = sim.alloc(N * width);
        const projection = sim.tidy(() => {
          sim.alloc(N * width); // g * xhat
          return sim.alloc(N); // its row means
        });
        const along = sim.alloc(N * width);
        sim.free(xhat, projection);
        const centred = sim.alloc(N * width);
        sim.free(g, along);
        const dx = grad(N * width);
        sim.free(r, centred);
        return [dx, dw];
      }),
    );
    return [h, out];
  };

  /** RoPE of x [.., T, D] (ropeForward / ropeBackward, in a tidy): x cos + rotate_half(x) sin; returns the result. */
  const rope = (size: number): Handle =>
    sim.tidy(() => {
      sim.alloc(size); // x * cos
      if (wasm) {
        sim.alloc(size); // rows reshaped
        sim.alloc(D * D); // R
        sim.alloc(size); // rows @ R
        sim.alloc(size); // reshaped back
      } else {
        sim.alloc(size); // two halves
        sim.alloc(size / 2); // -x2
        sim.alloc(size); // concat
      }
      sim.alloc(size); // * sin
      return sim.alloc(size); // sum
    });
  /** splitQueryHeads / splitKvHeads / mergeHeads: reshape, transpose, reshape in a tidy. */
  const regroup = (size: number): Handle =>
    sim.tidy(() => {
      sim.alloc(size);
      sim.alloc(size);
      return sim.alloc(size);
    });

  /** selfAttention(q [N, H*D], k, v [N, K*D]): saves q, k, v, the tables and the mask; recomputes the probabilities in its gradient. */
  const attention = (q: [Handle, Value], k: [Handle, Value], v: [Handle, Value]): [Handle, Value] => {
    const Q = N * H * D;
    const KV = N * K * D;
    const S = B * H * T * T; // [B*K, G*T, T]
    const maskSize = T > 1 ? G * T * T : 0;
    const heads = () =>
      sim.tidy(() => {
        regroup(Q); // split
        rope(Q);
        sim.alloc(Q); // reshaped to [B*K, G*T, D]
        const qs = sim.alloc(Q); // scaled
        regroup(KV);
        const kh = rope(KV);
        const vh = regroup(KV);
        return [qs, kh, vh];
      });
    const probabilities = () =>
      sim.tidy(() => {
        product(G * T, D, T, false, true, B * K); // scores
        if (maskSize) sim.alloc(S); // + mask
        return sim.alloc(S); // softmax
      });
    const out = value(Q, true);
    const h = customForward(() => {
      const [qs, kh, vh] = heads();
      const probs = probabilities();
      sim.free(qs, kh);
      product(G * T, T, D, false, false, B * K); // probs v
      sim.free(probs, vh);
      return regroup(Q); // heads merged
    });
    record([q[1], k[1], v[1]], out, [Q, KV, KV, 2 * T * D + maskSize], true, () => {
      const op = sim.tape.find((t) => t.output === out)!;
      return sim.tidy(() => {
        const [qs, kh, vh] = heads();
        sim.free(...op.saved.slice(0, 3)); // q, k, v: read once
        const probs = probabilities();
        const dOut = sim.tidy(() => {
          regroup(Q);
          return sim.alloc(Q);
        });
        const dV = product(T, G * T, D, true, false, B * K);
        const dP = product(G * T, D, T, false, true, B * K);
        sim.free(dOut, vh);
        sim.spike(S); // dP * probs, reduced to row sums
        const centred = sim.alloc(S);
        sim.free(dP);
        const dS = sim.alloc(S);
        sim.free(probs, centred);
        const dq = sim.tidy(() => {
          product(G * T, T, D, false, false, B * K);
          sim.alloc(Q); // / sqrt(D)
          sim.alloc(Q); // reshaped
          rope(Q);
          sim.alloc(Q); // reshaped
          return regroup(Q);
        });
        const dk = sim.tidy(() => {
          product(T, G * T, D, true, false, B * K);
          rope(KV);
          return regroup(KV);
        });
        sim.free(dS, kh, qs);
        const dv = regroup(KV);
        sim.free(dV);
        return [dq, dk, dv];
      });
    });
    return [h, out];
  };

  /** swiglu(gate, up [N, F]): saves both; its gradient holds at most four [N, F] temporaries. */
  const swiglu = (gate: [Handle, Value], up: [Handle, Value], F: number): [Handle, Value] => {
    const out = value(N * F, true);
    const h = customForward(() => {
      sim.alloc(N * F);
      sim.alloc(N * F);
      return sim.alloc(N * F);
    });
    record([gate[1], up[1]], out, [N * F, N * F], true, () =>
      sim.tidy(() => {
        const s = sim.alloc(N * F);
        const silu = sim.alloc(N * F);
        const dUp = grad(N * F);
        sim.free(silu);
        const oneMinus = sim.alloc(N * F);
        const gOneMinus = sim.alloc(N * F);
        sim.free(oneMinus);
        const inner = sim.alloc(N * F);
        sim.free(gOneMinus);
        const dSilu = sim.alloc(N * F);
        sim.free(s, inner);
        const dyUp = sim.alloc(N * F);
        const dGate = grad(N * F);
        sim.free(dSilu, dyUp);
        return [dGate, dUp];
      }),
    );
    return [h, out];
  };

  /** residualAdd(x, y): saves nothing; passes dy to x and a reshape of it to y. */
  const residual = (x: [Handle, Value], y: [Handle, Value]): [Handle, Value] => {
    const out = value(N * C, x[1].onPath || y[1].onPath);
    const h = sim.alloc(N * C);
    record([x[1], y[1]], out, [], false, (dy) => [dy, grad(N * C)]);
    return [h, out];
  };

  const q = linears.get("q_proj")!;
  const kv = linears.get("k_proj")!.outFeatures;
  const F = linears.get("gate_proj")!.outFeatures;
  const block = (x: [Handle, Value]): [Handle, Value] => {
    const h = rmsNorm(x, C);
    const qp = linear(q, h);
    const kp = linear(linears.get("k_proj")!, h);
    const vp = linear(linears.get("v_proj")!, h);
    const attended = attention(qp, kp, vp);
    const x1 = residual(x, linear(linears.get("o_proj")!, attended));
    const h2 = rmsNorm(x1, C);
    const gated = swiglu(linear(linears.get("gate_proj")!, h2), linear(linears.get("up_proj")!, h2), F);
    return residual(x1, linear(linears.get("down_proj")!, gated));
  };

  // The loss's tidy: model.loss (hidden states, head, cross-entropy), then lib/train's weighting.
  const nll = value(1, true);
  sim.tidy(() => {
    sim.alloc(2 * T * D + (T > 1 ? G * T * T : 0)); // RoPE tables and causal mask
    sim.alloc(N); // ids reshaped (int32)
    // Embedding lookup (a customGrad that saves the ids): on the path only in full training, where its
    // gradient scatters rows on the host backends and multiplies by a one-hot [N, V] on tensorflow, and
    // makes zeros for the ids.
    const table = value(V * C, full);
    const embedded = value(N * C, full);
    record([table, value(N, false)], embedded, [N], false, () => {
      if (backend === "tensorflow") sim.alloc(2 * N * V, "temporaries", false); // one-hot, int32 and float32, never freed
      return [grad(V * C), grad(N)];
    });
    let x: [Handle, Value] = [sim.alloc(N * C), embedded];
    for (let l = 0; l < L; l++) {
      const input = x;
      sim.layer = l;
      x = sim.tidy(() => block(input)) as unknown as [Handle, Value];
    }
    sim.layer = -1;
    const hFinal = rmsNorm(x, C);
    const logits: [Handle, Value] = shape.tieWordEmbeddings
      ? full
        ? matMulNN(hFinal, table, N, C, V)
        : matMulFrozen(hFinal, C, V)
      : linear({ module: "lm_head", inFeatures: C, outFeatures: V }, hFinal, false); // toQloraModel leaves lm_head dense
    sim.alloc(N); // targets reshaped (int32)
    sim.alloc(2 * N); // mask cast and reshaped
    // maskedCrossEntropy: log-sum-exp and the target's logit in tidies, then the copies saved.
    customForward(() => {
      sim.tidy(() => {
        sim.alloc(N); // row max
        sim.alloc(N * V); // logits - max
        sim.alloc(N * V); // exp
        sim.alloc(4 * N); // sum, log, max reshaped, lse
      });
      sim.tidy(() => {
        sim.alloc(N * V); // logits flattened
        sim.alloc(4 * N); // row offsets, indices, picked
      });
      sim.alloc(4 * N); // weights, nll, products
      return sim.alloc(1);
    });
    record([logits[1]], nll, [N * V, N, N], true, () => {
      const op = sim.tape.find((t) => t.output === nll)!;
      return sim.tidy(() => {
        const weights = sim.alloc(N);
        const probs = sim.alloc(N * V);
        sim.free(op.saved[0]); // the logits copy: read once
        const scaled = sim.alloc(N * V);
        sim.free(probs);
        const atTargets = sim.tidy(() => {
          sim.alloc(4 * N); // row indices, pairs
          return sim.alloc(N * V);
        });
        const dLogits = grad(N * V);
        sim.free(weights, scaled, atTargets);
        return [dLogits];
      });
    });
    return sim.alloc(1);
  });
  // lib/train multiplies the loss by the micro-batch's weight (Multiply saves both scalars).
  const weighted = value(1, true);
  sim.alloc(1);
  kernel([nll], weighted, [1, 1], () => [grad(1)]);
  sim.backward(weighted);
  const peak = sim.result();
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
