// AdamW (Loshchilov & Hutter 2019) behind the Optimizer contract; its moments live resident, paged,
// 8-bit or paged 8-bit (QLoRA section 3 "paged optimizers"; Dettmers et al. 2022 8-bit optimizers).
import * as tf from "@tensorflow/tfjs-core";
import { InvalidArgumentError, TensorError, expected } from "../errors.js";
import type { MemoryItem } from "../memory/types.js";
import { adamwStep } from "./adamw_math.js";
import { concatSlots, float32Codec, type MomentCodec, type StateSlots } from "./moment_codec.js";
import type { NamedVariable, Optimizer, OptimizerState } from "./optimizer.js";
import { sliceElements, type PagingRecord, type StatePlacement } from "./placement.js";
import { PagedPlacement } from "./paged_placement.js";
import { ResidentPlacement } from "./resident_placement.js";
import { Blockwise8bitCodec, STATE_8BIT_BLOCK, state8bitBytes } from "./state_8bit.js";
import { DEFAULT_8BIT_MIN_ELEMENTS, resolveStateOption, type OptimizerStateOption, type ResolvedStateOption } from "./state_options.js";

/** Whether AdamW's 8-bit forms keep a tensor of n elements in 8 bits (smaller ones keep 32-bit moments, as bitsandbytes). */
export function holds8bit(n: number, minElements = DEFAULT_8BIT_MIN_ELEMENTS): boolean {
  return n >= minElements;
}

/** Bytes of AdamW's moments for a tensor of n elements: 32-bit (float32 m and v), or 8-bit where {@link holds8bit} (see state8bitBytes for the layouts). */
export function adamwStateBytes(n: number, bits: 32 | 8, layout: "tfjs" | "bitsandbytes"): number {
  return bits === 8 && holds8bit(n) ? state8bitBytes(n, layout) : float32Codec.payloadBytes(n);
}

/** Options for {@link AdamW}; the learning rate is given per step to applyGradients. */
export interface AdamWOptions {
  /** (beta1, beta2); default (0.9, 0.999). */
  betas?: readonly [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay; default 0 (the QLoRA recipe; PyTorch's class default is 0.01). */
  weightDecay?: number;
  /** Where the moments live; default resident 32-bit. */
  state?: OptimizerStateOption | "resident" | "8bit";
  /** Called with each step's paging record (paged forms only). */
  onPaging?: (record: PagingRecord) => void;
}

/** The `kind` AdamW writes into saved state. */
export const ADAMW_STATE_KIND = "adamw";

/** A run of a parameter's elements whose state moves and updates as one unit. */
interface Chunk {
  name: string;
  key: string;
  start: number;
  len: number;
  /** Pages the chunk spans (paged forms; 1 otherwise). */
  pages: number;
}

/** AdamW with decoupled weight decay and bias correction, as torch.optim.AdamW. */
export class AdamW implements Optimizer {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** The validated state form. */
  readonly state: ResolvedStateOption;
  private readonly placement: StatePlacement;
  private readonly codec8bit: Blockwise8bitCodec | undefined;
  private readonly steps = new Map<string, number>();
  private readonly sizes = new Map<string, number>();
  private readonly history: PagingRecord[] = [];
  private steps_ = 0;
  private disposed = false;

  constructor(private readonly options: AdamWOptions = {}) {
    const [beta1, beta2] = options.betas ?? [0.9, 0.999];
    for (const [what, value] of [["betas[0]", beta1], ["betas[1]", beta2]] as const) {
      if (!(Number.isFinite(value) && value >= 0 && value < 1)) throw new InvalidArgumentError("AdamW", expected(`${what} in [0, 1)`, value));
    }
    const eps = options.eps ?? 1e-8;
    if (!(Number.isFinite(eps) && eps >= 0)) throw new InvalidArgumentError("AdamW", expected("eps >= 0", eps));
    const weightDecay = options.weightDecay ?? 0;
    if (!(Number.isFinite(weightDecay) && weightDecay >= 0)) throw new InvalidArgumentError("AdamW", expected("weightDecay >= 0", weightDecay));
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.state = resolveStateOption(options.state);
    this.placement = createPlacement(this.state);
    const s = this.state;
    this.codec8bit = s.kind === "8bit" || s.kind === "paged-8bit" ? new Blockwise8bitCodec() : undefined;
    if (s.kind === "paged-8bit" && this.codec8bit!.elementsPerPage(s.pageBytes) === 0) {
      throw new InvalidArgumentError("AdamW", expected(`state.pageBytes to hold one 8-bit block (${this.codec8bit!.payloadBytes(STATE_8BIT_BLOCK)} bytes)`, s.pageBytes));
    }
  }

  get stepCount(): number {
    return this.steps_;
  }

  /** Paging records of every step so far (empty for resident forms). */
  pagingHistory(): readonly PagingRecord[] {
    return this.history;
  }

  /** The codec a parameter of n elements uses (8-bit forms keep small tensors in float32). */
  private codecFor(n: number): MomentCodec {
    return this.codec8bit && this.state.kind !== "resident" && this.state.kind !== "paged" && holds8bit(n, this.state.minElements) ? this.codec8bit : float32Codec;
  }

  /**
   * Cuts a parameter into chunks. Paged forms move and update as many whole pages at once as the budget
   * holds (the whole parameter when its state fits): each chunk costs a page-in, a page-out and one
   * AdamW update of ~15 backend ops, so fewer, larger chunks cost less per element, and the update is
   * elementwise, so the cut never changes a bit. The budget bounds the state kept on the backend; the
   * update's temporaries scale with the chunk (a few [len] tensors, as a resident update of the same
   * parameter holds).
   */
  private chunksOf(name: string, n: number): Chunk[] {
    const s = this.state;
    if (s.kind !== "paged" && s.kind !== "paged-8bit") return [{ name, key: `${name}#0`, start: 0, len: n, pages: 1 }];
    const codec = this.codecFor(n);
    const perPage = codec.elementsPerPage(s.pageBytes);
    const per = codec.payloadBytes(n) <= s.budgetBytes ? n : perPage * Math.max(1, Math.floor(s.budgetBytes / s.pageBytes));
    const chunks: Chunk[] = [];
    for (let start = 0, k = 0; start < n; start += per, k++) {
      const len = Math.min(per, n - start);
      chunks.push({ name, key: `${name}#${k}`, start, len, pages: Math.ceil(len / perPage) });
    }
    return chunks;
  }

  applyGradients(params: readonly NamedVariable[], grads: Readonly<Record<string, tf.Tensor>>, lr: number): void {
    if (this.disposed) throw new InvalidArgumentError("AdamW.applyGradients", expected("an optimizer that is not disposed", "a disposed one"));
    if (!(Number.isFinite(lr) && lr >= 0)) throw new InvalidArgumentError("AdamW.applyGradients", expected("lr to be a finite number >= 0", lr));
    const started = performance.now();
    // As torch: a parameter without a gradient is skipped (its state and step count stay).
    const active = params.filter((p) => grads[p.name] !== undefined);
    const seen = new Set<string>();
    for (const { name, variable } of active) {
      const grad = grads[name]!;
      if (seen.has(name)) throw new InvalidArgumentError("AdamW.applyGradients", expected("unique parameter names", `"${name}" twice`));
      seen.add(name);
      if (grad.dtype !== "float32" || variable.dtype !== "float32") throw new TensorError("AdamW.applyGradients", expected(`float32 parameter and gradient for "${name}"`, `${variable.dtype} / ${grad.dtype}`));
      if (!tf.util.arraysEqual(grad.shape, variable.shape)) throw new TensorError("AdamW.applyGradients", expected(`gradient of "${name}" with shape [${variable.shape}]`, `[${grad.shape}]`));
      const known = this.sizes.get(name);
      if (known !== undefined && known !== variable.size) throw new TensorError("AdamW.applyGradients", expected(`"${name}" to keep its ${known} elements`, variable.size));
    }
    const plan = active.map((p) => this.chunksOf(p.name, p.variable.size));
    const order = plan.flat();
    this.placement.beginStep();
    let cursor = 0;
    for (let i = 0; i < active.length; i++) {
      const { name, variable } = active[i]!;
      const grad = grads[name]!;
      const n = variable.size;
      const codec = this.codecFor(n);
      const step = (this.steps.get(name) ?? 0) + 1;
      const scalars = { lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, step };
      const updated = tf.tidy(() => {
        const chunks = plan[i]!;
        const pFlat = tf.reshape(variable, [-1]) as tf.Tensor1D; // [n]
        const gFlat = tf.reshape(grad, [-1]) as tf.Tensor1D; // [n]
        const split = chunks.length > 1;
        const pieces: tf.Tensor1D[] = [];
        for (const chunk of chunks) {
          cursor++;
          const end = chunk.start + chunk.len;
          const p = split ? sliceElements(pFlat, chunk.start, end) : pFlat; // [len]
          const g = split ? sliceElements(gFlat, chunk.start, end) : gFlat; // [len]
          const payload = this.placement.acquire(chunk.key);
          const next = order[cursor];
          if (next) this.placement.prefetch(next.key);
          const { m, v } = payload ? codec.decode(payload, chunk.len) : { m: tf.zeros([chunk.len]) as tf.Tensor1D, v: tf.zeros([chunk.len]) as tf.Tensor1D };
          const result = adamwStep(p, g, m, v, scalars);
          this.placement.put(chunk.key, codec.encode(result.m, result.v), name, chunk.pages);
          pieces.push(result.param);
        }
        const flat = pieces.length === 1 ? pieces[0]! : tf.concat(pieces); // [n]
        return tf.reshape(flat, variable.shape);
      });
      variable.assign(updated);
      updated.dispose();
      this.steps.set(name, step);
      this.sizes.set(name, n);
    }
    this.steps_++;
    const record = this.placement.endStep(this.steps_, performance.now() - started);
    if (record) {
      this.history.push(record);
      this.options.onPaging?.(record);
    }
  }

  saveState(): OptimizerState {
    const slots: Record<string, StateSlots> = {};
    for (const [name, n] of this.sizes) {
      const codec = this.codecFor(n);
      const parts = this.chunksOf(name, n).map((c) => codec.toSlots(this.placement.readHost(c.key)!, c.len));
      slots[name] = { ...concatSlots(parts), step: Float32Array.of(this.steps.get(name) ?? 0) };
    }
    return { kind: ADAMW_STATE_KIND, stepCount: this.steps_, slots };
  }

  loadState(state: OptimizerState): void {
    if (state?.kind !== ADAMW_STATE_KIND) throw new InvalidArgumentError("AdamW.loadState", expected(`state of kind "${ADAMW_STATE_KIND}"`, state?.kind, "Load state saved by AdamW."));
    for (const [name, slot] of Object.entries(state.slots)) {
      const n = (slot.m ?? slot.m_codes)?.length;
      if (n === undefined) throw new InvalidArgumentError("AdamW.loadState", expected(`slots m/v or m_codes/v_codes for "${name}"`, Object.keys(slot).join(", ")));
      const codec = this.codecFor(n);
      const usable = codec === float32Codec && slot.m_codes ? (this.codec8bit ?? new Blockwise8bitCodec()).dequantizeSlots(slot) : slot;
      for (const c of this.chunksOf(name, n)) this.placement.putHost(c.key, codec.fromSlots(usable, c.start, c.len), name, c.pages);
      this.sizes.set(name, n);
      this.steps.set(name, slot.step ? slot.step[0]! : state.stepCount);
    }
    this.steps_ = state.stepCount;
  }

  memoryItems(): MemoryItem[] {
    return this.placement.memoryItems();
  }

  dispose(): void {
    this.placement.dispose();
    this.disposed = true;
  }
}

function createPlacement(state: ResolvedStateOption): StatePlacement {
  if (state.kind === "paged" || state.kind === "paged-8bit") return new PagedPlacement(state);
  return new ResidentPlacement();
}
