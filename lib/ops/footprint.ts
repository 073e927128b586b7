// What an op holds on TensorFlow.js, declared beside its gradient: each op's footprint replays the
// tensors its forward and backward make and free on a Timeline, counted as tf.memory().numBytes counts
// them (per live handle: a reshape is a second handle on the same buffer and counts again), under the
// rules of tfjs-core 4.x's engine (engine.ts, tape.ts):
// 1. A tape op's saved tensors (a kernel's gradConfig inputsToSave / outputsToSave, or what a customGrad
//    saves) are copies kept until the backward ends. customOp's ops free theirs as soon as their
//    gradient has run ("lean"); TF.js's own kernels and plain customGrads keep them to the end.
// 2. The gradient of a tensor is kept from when its first consumer's gradient makes it until the backward
//    ends. A tensor used k times holds k tensors (each later contribution, plus the running sum). Lean
//    ops free the summed gradient of their output once they have read it; TF.js's kernels do not.
// 3. Gradients a customGrad makes for inputs off the gradient path are never read and live to the end.
// 4. Inside tf.tidy everything an op makes lives until the tidy ends; the hand-written gradients free
//    each temporary once read, so their peak is a few tensors of their largest shape.
// 5. A gradient computed inside a backward (gradient checkpointing's recompute, lib/ops/recompute.ts)
//    runs its forward on a tape of its own and, at its end, frees everything it made but the gradients
//    it returns; its forward, run first with the tape off, saved nothing.
// lib/plan/tfjs_tape.ts composes these footprints into a training step's peak.

/** The TF.js backend whose code paths a footprint follows: wasm, cpu, or tensorflow (tfjs-node). */
export type TfjsBackendKind = "wasm" | "cpu" | "tensorflow";

/** Elements held by kind (4 bytes each: float32 and int32 alike). */
export interface TapeCounts {
  /** Tensors saved for the backward and not yet freed (rule 1). */
  saved: number;
  /** Gradients of intermediates (rules 2 and 3) and of the trainable variables. */
  gradients: number;
  /** Forward outputs still in scope, and temporaries of the op running at the peak (rule 4). */
  temporaries: number;
}

/** The timeline at its highest total, and the share of the reported decoder block's tensors in it. */
export interface TapePeak extends TapeCounts {
  perLayer: TapeCounts;
}

/** One tensor handle on the timeline. */
export interface Handle {
  size: number;
  bucket: keyof TapeCounts;
  /** The decoder block that made it (-1 outside the blocks). */
  layer: number;
  live: boolean;
}

/** A forward tensor that the backward may give a gradient. */
export interface TapeValue {
  size: number;
  onPath: boolean;
  /** The running gradient (rule 2), or null before its first contribution. */
  grad: Handle | null;
}

/** A forward tensor as a footprint passes it on: its handle (while in scope) and its tape value. */
export type Traced = [Handle, TapeValue];

/** An op's gradient as a replay of its allocations: given dy and its saved copies, one gradient per input (null where it makes none). */
export type BackwardReplay = (dy: Handle, saved: Handle[]) => (Handle | null)[];

/** A tape op: what it saved, and its gradient as a replay. */
interface TapeOp {
  layer: number;
  inputs: TapeValue[];
  output: TapeValue;
  saved: Handle[];
  /** Frees its saved copies and its output's gradient after its gradient (customOp). */
  lean: boolean;
  backward: BackwardReplay;
}

/** Replays allocations and frees, tidy scopes and the tape, and records the highest total. */
export class Timeline {
  private readonly live: TapeCounts = { saved: 0, gradients: 0, temporaries: 0 };
  private readonly perLayerLive: TapeCounts = { saved: 0, gradients: 0, temporaries: 0 };
  private peakTotal = -1;
  private peak: TapePeak = { saved: 0, gradients: 0, temporaries: 0, perLayer: { saved: 0, gradients: 0, temporaries: 0 } };
  private readonly scopes: Handle[][] = [[]];
  private tape: TapeOp[] = [];
  /** False while a forward runs with the tape off (rule 5): its ops save nothing and are not recorded. */
  private taping = true;
  /** While a recompute runs: every handle and tape value it makes (rule 5). */
  private made: { handles: Handle[]; values: TapeValue[] } | null = null;
  /** The decoder block being replayed (-1 outside), for the per-layer share. */
  layer = -1;

  /** A timeline for `backend`'s code paths (large products on the native engine when `nativeProducts`), reporting the share of block `reportedLayer`. */
  constructor(
    readonly backend: TfjsBackendKind,
    private readonly reportedLayer: number,
    readonly nativeProducts = false,
  ) {}

  /** A new handle of `size` elements, owned by the current scope (or by nobody: kept copies and gradients). */
  alloc(size: number, bucket: keyof TapeCounts = "temporaries", scoped = bucket === "temporaries"): Handle {
    const h: Handle = { size, bucket, layer: this.layer, live: true };
    if (scoped) this.scopes.at(-1)!.push(h);
    this.made?.handles.push(h);
    this.live[bucket] += size;
    if (h.layer === this.reportedLayer) this.perLayerLive[bucket] += size;
    this.note();
    return h;
  }

  /** A gradient made in an op's scope, handed to the tape by {@link backward} (not freed by the tidy around it). */
  gradient(size: number): Handle {
    return this.alloc(size, "temporaries", false);
  }

  /** A forward tensor of `size` elements that is (or is not) on the gradient path, before it has a handle. */
  value(size: number, onPath: boolean): TapeValue {
    const v: TapeValue = { size, onPath, grad: null };
    this.made?.values.push(v);
    return v;
  }

  free(...handles: (Handle | null | undefined)[]): void {
    for (const h of handles) {
      if (!h || !h.live) continue;
      h.live = false;
      this.live[h.bucket] -= h.size;
      if (h.layer === this.reportedLayer) this.perLayerLive[h.bucket] -= h.size;
    }
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

  /** Records a tape op whose `saved` copies (sizes) are kept by no scope; `lean` as customOp's ops. */
  record(inputs: TapeValue[], output: TapeValue, saved: number[], lean: boolean, backward: BackwardReplay): void {
    if (!this.taping) return;
    this.tape.push({ layer: this.layer, inputs, output, saved: saved.map((n) => this.alloc(n, "saved", false)), lean, backward });
  }

  /** `fn` with the tape off: its ops neither save copies nor go on the tape (a recomputed forward, rule 5). */
  untaped<T>(fn: () => T): T {
    const was = this.taping;
    this.taping = false;
    try {
      return fn();
    } finally {
      this.taping = was;
    }
  }

  /**
   * A gradient computed inside the backward on a tape of its own (rule 5): `fn` replays a forward and
   * its {@link backward}; then every handle made inside is freed but those `fn` returns and the gradients
   * of the leaves on the path (trainable variables), which the outer backward keeps to its end.
   */
  ownTape(fn: () => (Handle | null)[]): (Handle | null)[] {
    const outer = { tape: this.tape, made: this.made, taping: this.taping };
    this.tape = [];
    this.made = { handles: [], values: [] };
    this.taping = true;
    try {
      const result = fn();
      const produced = new Set(this.tape.map((op) => op.output));
      const kept = new Set<Handle | null>(result);
      for (const v of this.made.values) if (v.onPath && !produced.has(v) && v.grad) kept.add(v.grad);
      this.free(...this.made.handles.filter((h) => !kept.has(h)));
      outer.made?.handles.push(...[...kept].filter((h): h is Handle => h !== null));
      return result;
    } finally {
      this.tape = outer.tape;
      this.made = outer.made;
      this.taping = outer.taping;
    }
  }

  /** The backward: tape ops in reverse, for those with an input on the gradient path (engine.ts gradients); `seed` is dy (default ones). */
  backward(loss: TapeValue, seed?: Handle): void {
    loss.grad = seed ?? this.alloc(1, "gradients", false); // dy = ones
    for (let i = this.tape.length - 1; i >= 0; i--) {
      const op = this.tape[i]!;
      if (!op.inputs.some((x) => x.onPath) || !op.output.grad) continue;
      const dy = op.output.grad;
      this.layer = op.layer;
      const grads = op.backward(dy, op.saved);
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
        if (!grads.includes(dy) && dy !== seed) this.free(dy); // a caller's seed is the caller's (releaseGradient)
      }
    }
  }

  /** The highest total seen, by kind. */
  result(): TapePeak {
    return { ...this.peak, perLayer: { ...this.peak.perLayer } };
  }

  /** A handle changes kind (a temporary returned as a gradient). */
  private move(h: Handle, bucket: keyof TapeCounts): void {
    this.live[h.bucket] -= h.size;
    this.live[bucket] += h.size;
    if (h.layer === this.reportedLayer) {
      this.perLayerLive[h.bucket] -= h.size;
      this.perLayerLive[bucket] += h.size;
    }
    h.bucket = bucket;
  }

  private note(): void {
    const total = this.live.saved + this.live.gradients + this.live.temporaries;
    if (total > this.peakTotal) {
      this.peakTotal = total;
      this.peak = { ...this.live, perLayer: { ...this.perLayerLive } };
    }
  }
}
