// A LoRA layer over any frozen Linear (dense float32 or 4-bit): y = base(x) + ((dropout(x) A^T) B^T) * scaling
// for the active adapter (PEFT's lora.Linear, peft/tuners/lora/layer.py), with named adapters.
import * as tf from "@tensorflow/tfjs-core";
import { InvalidArgumentError, TensorError, expected } from "../errors.js";
import type { MemoryItem } from "../memory/types.js";
import { DenseLinear, type Linear } from "../model/linear.js";
import { lowRankUpdate } from "../ops/low_rank.js";
import type { NamedVariable } from "../optim/optimizer.js";
import { mergedWeight, type LoraFactors } from "./delta.js";

/** What defines one adapter on one layer: its rank, alpha, scaling and dropout. */
export interface LoraAdapterSpec {
  r: number;
  alpha: number;
  /** alpha / r, or alpha / sqrt(r) for rsLoRA. */
  scaling: number;
  /** Dropout probability on the branch input while training. */
  dropout: number;
}

/** One adapter's trainable factors on one layer: A [r, in] and B [out, r] as tf.Variables. */
export class LoraAdapter implements LoraFactors {
  readonly loraA: tf.Variable<tf.Rank.R2>; // [r, in]
  readonly loraB: tf.Variable<tf.Rank.R2>; // [out, r]

  constructor(
    readonly name: string,
    readonly spec: LoraAdapterSpec,
    values: { a: Float32Array; b: Float32Array; inFeatures: number; outFeatures: number },
  ) {
    const { r } = spec;
    if (values.a.length !== r * values.inFeatures || values.b.length !== values.outFeatures * r) {
      throw new TensorError("LoraAdapter", expected(`A with ${r}x${values.inFeatures} and B with ${values.outFeatures}x${r} values`, `${values.a.length} and ${values.b.length}`));
    }
    // Variables keep TF.js's unique names: two models with the same module paths can coexist.
    this.loraA = tf.tidy(() => tf.variable(tf.tensor2d(values.a, [r, values.inFeatures]), true));
    this.loraB = tf.tidy(() => tf.variable(tf.tensor2d(values.b, [values.outFeatures, r]), true));
  }

  get r(): number {
    return this.spec.r;
  }

  get scaling(): number {
    return this.spec.scaling;
  }

  /** Bytes of A and B (float32). */
  bytes(): number {
    return (this.loraA.size + this.loraB.size) * 4;
  }

  dispose(): void {
    this.loraA.dispose();
    this.loraB.dispose();
  }
}

/**
 * A Linear with LoRA adapters over a frozen base. Only the active adapter's A and B train and
 * contribute; the base never receives a gradient (a dense base is read as a constant, a 4-bit base
 * dequantizes only while it computes).
 */
export class LoraLinear implements Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  private baseLayer: Linear;
  private readonly adapterMap = new Map<string, LoraAdapter>();
  private active: string | null = null;
  private disabled = false;
  private mergedInto: string | null = null;
  private isTraining = false;
  /** Dropout masks drawn so far (each call's seed derives from it; see Linear.drawCount). */
  drawCount = 0;

  /** `path` is the module path ("model.layers.0.self_attn.q_proj"); `seed` drives dropout masks. */
  constructor(
    base: Linear,
    readonly path: string,
    private readonly seed = 0,
  ) {
    if (base instanceof LoraLinear) throw new InvalidArgumentError("LoraLinear", expected("a base Linear", `a LoraLinear at "${path}"`, "Add an adapter to the existing LoraLinear instead of nesting."));
    this.baseLayer = base;
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
  }

  /** The frozen layer under the adapters. */
  get base(): Linear {
    return this.baseLayer;
  }

  /** Adapters on this layer by name. */
  get adapters(): ReadonlyMap<string, LoraAdapter> {
    return this.adapterMap;
  }

  /** The adapter used by apply(), or null. */
  get activeAdapter(): string | null {
    return this.active;
  }

  /** True while adapters are bypassed (apply returns the base output). */
  get adaptersDisabled(): boolean {
    return this.disabled;
  }

  /** The adapter currently folded into a dense base, or null. */
  get mergedAdapter(): string | null {
    return this.mergedInto;
  }

  /** True when dropout is applied (training mode). */
  get training(): boolean {
    return this.isTraining;
  }

  /** Turns dropout on (training) or off (evaluation, generation). */
  setTraining(training: boolean): void {
    this.isTraining = training;
  }

  /** Adds an adapter (shapes must fit this layer); the first one added becomes active. */
  addAdapter(adapter: LoraAdapter): void {
    const where = `LoraLinear.addAdapter (${this.path})`;
    if (this.adapterMap.has(adapter.name)) throw new InvalidArgumentError(where, expected(`a new adapter name`, JSON.stringify(adapter.name), "Delete the old adapter first or choose another name."));
    const [r, inFeatures] = adapter.loraA.shape;
    const [outFeatures, rB] = adapter.loraB.shape;
    if (inFeatures !== this.inFeatures || outFeatures !== this.outFeatures || rB !== r) {
      throw new TensorError(where, expected(`lora_A [r, ${this.inFeatures}] and lora_B [${this.outFeatures}, r]`, `lora_A [${adapter.loraA.shape.join(", ")}] and lora_B [${adapter.loraB.shape.join(", ")}]`));
    }
    this.adapterMap.set(adapter.name, adapter);
    if (this.active === null) this.active = adapter.name;
    this.syncTrainable();
  }

  /** Makes `name` the adapter apply() uses (null: none); a merged adapter must be unmerged first. */
  setActiveAdapter(name: string | null): void {
    if (name !== null && !this.adapterMap.has(name)) throw new InvalidArgumentError(`LoraLinear.setActiveAdapter (${this.path})`, expected(`one of ${this.describeNames()}`, JSON.stringify(name)));
    if (this.mergedInto !== null && this.mergedInto !== name) this.unmerge();
    this.active = name;
    this.syncTrainable();
  }

  /** Bypasses (true) or restores (false) the adapters; disabling unmerges a merged adapter first. */
  setAdaptersDisabled(disabled: boolean): void {
    if (disabled && this.mergedInto !== null) this.unmerge();
    this.disabled = disabled;
    this.syncTrainable();
  }

  /** Removes and disposes an adapter; if it was active, no adapter is active afterwards. */
  deleteAdapter(name: string): void {
    const adapter = this.adapterMap.get(name);
    if (!adapter) throw new InvalidArgumentError(`LoraLinear.deleteAdapter (${this.path})`, expected(`one of ${this.describeNames()}`, JSON.stringify(name)));
    if (this.mergedInto === name) this.unmerge();
    this.adapterMap.delete(name);
    adapter.dispose();
    if (this.active === name) this.active = null;
  }

  /** x: [N, in] -> base(x) + ((dropout(x) A^T) B^T) * scaling: [N, out]. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    const adapter = this.contributing();
    if (!adapter) return this.baseLayer.apply(x);
    return tf.tidy(() => {
      const y = this.baseLayer.apply(x); // [N, out]
      const p = adapter.spec.dropout;
      // Dropout only on the branch input (PEFT lora_dropout); seeded per layer and per call.
      const xIn = this.isTraining && p > 0 ? tf.dropout(x, p, undefined, this.seed + 7919 * this.drawCount++) : x;
      return lowRankUpdate(y, xIn as tf.Tensor2D, adapter.loraA, adapter.loraB, adapter.scaling); // y + ((x A^T) B^T) * scaling: [N, out]
    });
  }

  /** The active adapter's A and B (empty when disabled, merged, frozen or none is active). */
  trainableVariables(): tf.Variable[] {
    return this.namedTrainableVariables().map((v) => v.variable);
  }

  /** The active adapter's A and B named "<path>.lora_A.weight" / "<path>.lora_B.weight". */
  namedTrainableVariables(): NamedVariable[] {
    const adapter = this.contributing();
    if (!adapter || !adapter.loraA.trainable) return [];
    return [
      { name: `${this.path}.lora_A.weight`, variable: adapter.loraA },
      { name: `${this.path}.lora_B.weight`, variable: adapter.loraB },
    ];
  }

  /** The effective weight [out, in]: base plus the active adapter's delta (a new tensor). */
  denseWeight(): tf.Tensor2D {
    const adapter = this.contributing();
    return adapter ? mergedWeight(this.baseLayer, adapter) : this.baseLayer.denseWeight();
  }

  /**
   * Folds the active adapter into a dense float32 base (W += delta); apply() then skips the branch.
   * A 4-bit base refuses: use mergeAndUnload with an explicit strategy (never a silent requantization).
   */
  merge(): void {
    const where = `LoraLinear.merge (${this.path})`;
    if (this.mergedInto !== null) return;
    const adapter = this.active === null ? undefined : this.adapterMap.get(this.active);
    if (!adapter) throw new InvalidArgumentError(where, expected("an active adapter to merge", "none"));
    this.requireDenseBase(where);
    this.replaceDense(mergedWeight(this.baseLayer, adapter));
    this.mergedInto = adapter.name;
    this.syncTrainable();
  }

  /** Subtracts the merged adapter's delta again (restores the base to float32 rounding). */
  unmerge(): void {
    const name = this.mergedInto;
    if (name === null) return;
    const adapter = this.adapterMap.get(name)!;
    this.replaceDense(mergedWeight(this.baseLayer, adapter, -1));
    this.mergedInto = null;
    this.syncTrainable();
  }

  /** Swaps the base layer (merge strategies use this); returns the old base, not disposed. */
  replaceBase(base: Linear): Linear {
    if (base.inFeatures !== this.inFeatures || base.outFeatures !== this.outFeatures) {
      throw new TensorError(`LoraLinear.replaceBase (${this.path})`, expected(`a base [out ${this.outFeatures}, in ${this.inFeatures}]`, `[out ${base.outFeatures}, in ${base.inFeatures}]`));
    }
    const old = this.baseLayer;
    this.baseLayer = base;
    return old;
  }

  /** Detaches the base (for merge-and-unload) and disposes the adapters; this layer is unusable afterwards. */
  releaseBase(): Linear {
    for (const adapter of this.adapterMap.values()) adapter.dispose();
    this.adapterMap.clear();
    this.active = null;
    this.mergedInto = null;
    return this.baseLayer;
  }

  memoryItems(): MemoryItem[] {
    const items = [...this.baseLayer.memoryItems()];
    for (const adapter of this.adapterMap.values()) {
      items.push({ category: "lora_params", bytes: adapter.bytes(), owner: this.path, onBackend: true });
    }
    return items;
  }

  dispose(): void {
    this.baseLayer.dispose();
    for (const adapter of this.adapterMap.values()) adapter.dispose();
    this.adapterMap.clear();
  }

  /** The adapter apply() adds, or undefined (disabled, merged, none active). */
  private contributing(): LoraAdapter | undefined {
    if (this.disabled || this.active === null || this.mergedInto !== null) return undefined;
    return this.adapterMap.get(this.active);
  }

  /** Marks only the contributing adapter's variables trainable (so tf.variableGrads without a list finds no others). */
  private syncTrainable(): void {
    const live = this.contributing();
    for (const adapter of this.adapterMap.values()) {
      adapter.loraA.trainable = adapter === live;
      adapter.loraB.trainable = adapter === live;
    }
  }

  private requireDenseBase(where: string): void {
    if (!(this.baseLayer instanceof DenseLinear)) {
      throw new InvalidArgumentError(
        where,
        expected("a dense float32 base to merge into", `a ${this.baseLayer.constructor.name} base`, 'For a 4-bit base call mergeAndUnload(model, { strategy }) with strategy "separate" (keep the adapter), "float32" (merge into a float32 copy of the dequantized base) or "requantize" (lossy; returns a report).'),
      );
    }
  }

  private replaceDense(weight: tf.Tensor2D): void {
    const old = this.baseLayer;
    this.baseLayer = new DenseLinear(weight, { name: this.path }); // takes ownership of `weight`
    old.dispose();
  }

  private describeNames(): string {
    return this.adapterMap.size ? [...this.adapterMap.keys()].map((n) => JSON.stringify(n)).join(", ") : "(no adapters)";
  }
}
