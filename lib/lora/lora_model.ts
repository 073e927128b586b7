// A model with LoRA adapters on its linears (PEFT's PeftModel / LoraModel, peft/tuners/lora/model.py):
// injection by target-module rules, several named adapters, a frozen base, PEFT parameter names.
import type * as tf from "@tensorflow/tfjs-core";
import { InvalidArgumentError, expected } from "../errors.js";
import type { MemoryItem, MemoryReporter } from "../memory/types.js";
import type { GenerateOptions, GenerateResult } from "../model/generate.js";
import type { Linear } from "../model/linear.js";
import type { LossOptions } from "../model/llama.js";
import type { NamedVariable } from "../optim/optimizer.js";
import { isWeightBasedInit, loraScaling, rankAndAlphaFor, validateLoraConfig, type LoraConfig } from "./config.js";
import { initLoraValues, moduleSeed } from "./init.js";
import { LoraAdapter, LoraLinear } from "./lora_linear.js";
import { matchesModuleName, selectTargetModules } from "./target_modules.js";
import { initFromWeight, type BaseQuantization } from "./weight_init.js";

/** What LoRA needs from a model: its linears by module path and a way to swap one. LlamaModel fits. */
export interface AdaptableModel extends MemoryReporter {
  linears(): Map<string, Linear>;
  /** Replaces the linear at `path`; returns the old one, not disposed. */
  setLinear(path: string, linear: Linear): Linear;
  dispose(): void;
}

/** The prefix PEFT puts before module paths in parameter and tensor names. */
export const PEFT_PREFIX = "base_model.model.";

/** Options for adding an adapter. */
export interface AddAdapterOptions {
  /** Seed of the initial A (and B for init_lora_weights false) and of dropout masks; default 0. */
  seed?: number;
  /**
   * Values to start from instead of the initialisation, per module path (what loadAdapter passes):
   * a [r, in] and b [out, r], row-major.
   */
  values?: ReadonlyMap<string, { a: Float32Array; b: Float32Array }>;
  /** Whether the adapter's factors train when active (default true; loaded adapters default to false). */
  trainable?: boolean;
  /**
   * For PiSSA / LoftQ: store each new base (the residual, the backbone) in 4 bits with these settings,
   * except modules matching `skipModules` (what toQloraModel passes). Without it the base keeps its storage.
   */
  baseQuantization?: BaseQuantization & { skipModules?: readonly string[] };
}

/** Options of {@link toLoraModel}. */
export interface ToLoraModelOptions extends AddAdapterOptions {
  /** Name of the first adapter (PEFT: "default"). */
  adapterName?: string;
}

interface AdapterRecord {
  config: LoraConfig;
  modules: string[];
  trainable: boolean;
  /** True when adding it replaced the base weights (PiSSA, LoftQ): the base must be saved with the adapter. */
  changedBase: boolean;
}

/**
 * A model whose target linears carry LoRA adapters. The wrapped `model` is changed in place (its
 * linears become {@link LoraLinear}s), so `model.forward` and `lora.forward` are the same function.
 */
export class LoraModel<M extends AdaptableModel = AdaptableModel> implements MemoryReporter {
  private readonly records = new Map<string, AdapterRecord>();
  private active: string | null = null;
  private disabled = false;
  private isTraining = false;

  /** Use {@link toLoraModel} or {@link toQloraModel}; this wraps a model that has no LoRA layers yet. */
  constructor(readonly model: M) {
    for (const [path, linear] of model.linears()) {
      if (linear instanceof LoraLinear) throw new InvalidArgumentError("LoraModel", expected("a model without LoRA layers", `a LoraLinear at "${path}"`, "Call addAdapter on the LoraModel that owns it."));
    }
  }

  /** Validated configs of every adapter, by name (PEFT: peft_config). */
  get peftConfig(): ReadonlyMap<string, LoraConfig> {
    return new Map([...this.records].map(([name, record]) => [name, record.config]));
  }

  /** Adapter names in the order they were added. */
  get adapterNames(): string[] {
    return [...this.records.keys()];
  }

  /** The adapter forward passes use (null when none is active). */
  get activeAdapter(): string | null {
    return this.active;
  }

  /** True while every adapter is bypassed (the model gives its base output). */
  get adaptersDisabled(): boolean {
    return this.disabled;
  }

  /** True while dropout is on. */
  get training(): boolean {
    return this.isTraining;
  }

  /** True when adding adapter `name` replaced the base weights (PiSSA's residual, LoftQ's backbone): save the base with it ({@link saveBaseModel}). */
  changedBase(name: string | null = this.active): boolean {
    return this.record(name, "LoraModel.changedBase").changedBase;
  }

  /** Module paths an adapter was injected into. */
  adaptedModules(name: string | null = this.active): string[] {
    return [...this.record(name, "LoraModel.adaptedModules").modules];
  }

  /** The LoRA layers of the model by module path. */
  loraLayers(): Map<string, LoraLinear> {
    const out = new Map<string, LoraLinear>();
    for (const [path, linear] of this.model.linears()) if (linear instanceof LoraLinear) out.set(path, linear);
    return out;
  }

  /**
   * Adds a named adapter for `config` (PEFT's add_adapter): wraps each target linear in a LoraLinear
   * (or adds to the one there) with seeded A and B. The first adapter becomes active.
   * Returns the adapted module paths.
   */
  addAdapter(name: string, config: Partial<LoraConfig> | LoraConfig, options: AddAdapterOptions = {}): string[] {
    const where = "LoraModel.addAdapter";
    if (typeof name !== "string" || name.length === 0 || name.includes(".")) throw new InvalidArgumentError(where, expected("an adapter name without dots", JSON.stringify(name)));
    if (this.records.has(name)) throw new InvalidArgumentError(where, expected("a new adapter name", JSON.stringify(name), `This model already has ${this.adapterNames.map((n) => JSON.stringify(n)).join(", ")}; delete it first or pick another name.`));
    const resolved = validateLoraConfig(config, { where });
    const linears = this.model.linears();
    const modules = selectTargetModules(linears.keys(), resolved, { where });
    if (options.values) {
      const extra = [...options.values.keys()].filter((p) => !modules.includes(p));
      if (extra.length) throw new InvalidArgumentError(where, expected("values only for the modules the config targets", extra.join(", ")));
    }
    const seed = options.seed ?? 0;
    const trainable = options.trainable ?? true;
    const created: { layer: LoraLinear; path: string; isNew: boolean; adapter?: LoraAdapter; oldBase?: Linear }[] = [];
    // PiSSA and LoftQ compute A and B from W and replace the base (loaded values replace any init).
    const fromWeight = isWeightBasedInit(resolved.init_lora_weights) && !options.values;
    const quant = options.baseQuantization;
    try {
      for (const path of modules) {
        const linear = linears.get(path)!;
        const layer = linear instanceof LoraLinear ? linear : new LoraLinear(linear, path, moduleSeed(seed, "dropout", path));
        const entry: (typeof created)[number] = { layer, path, isNew: !(linear instanceof LoraLinear) };
        created.push(entry);
        const { r, alpha } = rankAndAlphaFor(resolved, path);
        const scaling = loraScaling(r, alpha, resolved.use_rslora);
        let values = options.values?.get(path);
        if (!values && fromWeight) {
          const quantizeHere = quant && !(quant.skipModules ?? []).some((s) => matchesModuleName(path, s)) ? quant : undefined;
          const init = initFromWeight(resolved, layer.base, path, r, scaling, moduleSeed(seed, name, path), quantizeHere);
          entry.oldBase = layer.replaceBase(init.base);
          values = init.values;
        }
        values ??= initLoraValues(resolved.init_lora_weights, r, layer.inFeatures, layer.outFeatures, moduleSeed(seed, name, path));
        entry.adapter = new LoraAdapter(name, { r, alpha, scaling, dropout: resolved.lora_dropout }, { ...values, inFeatures: layer.inFeatures, outFeatures: layer.outFeatures });
        layer.addAdapter(entry.adapter);
      }
    } catch (error) {
      for (const { layer, adapter, oldBase } of created) {
        if (adapter && layer.adapters.get(name) === adapter) layer.deleteAdapter(name);
        else adapter?.dispose();
        if (oldBase) layer.replaceBase(oldBase).dispose(); // the original weights come back
      }
      throw error;
    }
    for (const { layer, path, isNew, oldBase } of created) {
      oldBase?.dispose();
      if (isNew) this.model.setLinear(path, layer);
      layer.setTraining(this.isTraining);
    }
    this.records.set(name, { config: resolved, modules, trainable, changedBase: fromWeight });
    if (this.active === null) this.active = name;
    this.applyState();
    return [...modules];
  }

  /** Makes `name` the adapter every forward uses (PEFT's set_adapter); merged adapters are unmerged first. */
  setAdapter(name: string): void {
    this.record(name, "LoraModel.setAdapter");
    this.active = name;
    this.applyState();
  }

  /** Bypasses every adapter: forward gives the base model's output (PEFT's disable_adapter). */
  disableAdapters(): void {
    this.disabled = true;
    this.applyState();
  }

  /** Undoes {@link disableAdapters}. */
  enableAdapters(): void {
    this.disabled = false;
    this.applyState();
  }

  /** Runs `fn` with adapters disabled and restores them afterwards, also when it throws or its promise rejects. */
  withAdaptersDisabled<T>(fn: () => T): T {
    const was = this.disabled;
    this.disableAdapters();
    let result: T;
    try {
      result = fn();
    } catch (error) {
      if (!was) this.enableAdapters();
      throw error;
    }
    if (result instanceof Promise) {
      return result.finally(() => {
        if (!was) this.enableAdapters();
      }) as T;
    }
    if (!was) this.enableAdapters();
    return result;
  }

  /** Removes an adapter and frees its tensors; linears left without adapters get their base back. */
  deleteAdapter(name: string): void {
    const record = this.record(name, "LoraModel.deleteAdapter");
    for (const path of record.modules) {
      const layer = this.model.linears().get(path);
      if (!(layer instanceof LoraLinear)) continue;
      layer.deleteAdapter(name);
      if (layer.adapters.size === 0) this.model.setLinear(path, layer.releaseBase());
    }
    this.records.delete(name);
    if (this.active === name) this.active = this.records.size ? [...this.records.keys()][0]! : null;
    this.applyState();
  }

  /** Folds the active adapter into every dense base (PEFT's merge_adapter); forward then skips the branches. */
  mergeAdapter(): void {
    const record = this.record(this.active, "LoraModel.mergeAdapter");
    for (const path of record.modules) this.loraLayer(path).merge();
    this.applyState();
  }

  /** Subtracts merged adapters again (PEFT's unmerge_adapter). */
  unmergeAdapter(): void {
    for (const layer of this.loraLayers().values()) layer.unmerge();
    this.applyState();
  }

  /**
   * Removes every LoRA layer without merging (PEFT's unload): each linear gets its base back and
   * the adapters are freed. Returns the plain model; this LoraModel has no adapters afterwards.
   */
  unload(): M {
    for (const [path, layer] of this.loraLayers()) this.model.setLinear(path, layer.releaseBase());
    this.records.clear();
    this.active = null;
    this.disabled = false;
    return this.model;
  }

  /** Dropout on (training) or off (evaluation, generation); off by default. */
  setTraining(training: boolean): void {
    this.isTraining = training;
    for (const layer of this.loraLayers().values()) layer.setTraining(training);
  }

  /**
   * The parameters being trained: the active adapter's A and B only, named as PEFT names them in
   * adapter files ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").
   */
  trainableVariables(): NamedVariable[] {
    if (this.active === null || this.disabled || !this.records.get(this.active)!.trainable) return [];
    const out: NamedVariable[] = [];
    for (const path of this.records.get(this.active)!.modules) {
      for (const v of this.loraLayer(path).namedTrainableVariables()) out.push({ name: PEFT_PREFIX + v.name, variable: v.variable });
    }
    return out;
  }

  /** Marks an adapter's factors trainable (or frozen), e.g. to continue training a loaded adapter. */
  setAdapterTrainable(name: string, trainable: boolean): void {
    this.record(name, "LoraModel.setAdapterTrainable").trainable = trainable;
    this.applyState();
  }

  /** Logits [B, T, V] of the adapted model (the wrapped model's forward). */
  forward(inputIds: tf.Tensor2D): tf.Tensor3D {
    return this.delegate<(ids: tf.Tensor2D) => tf.Tensor3D>("forward")(inputIds);
  }

  /** Mean masked cross-entropy of the adapted model (the wrapped model's loss). */
  loss(inputIds: tf.Tensor2D, targets: tf.Tensor2D, mask: tf.Tensor2D, options: LossOptions = {}): tf.Scalar {
    return this.delegate<(ids: tf.Tensor2D, targets: tf.Tensor2D, mask: tf.Tensor2D, options: LossOptions) => tf.Scalar>("loss")(inputIds, targets, mask, options);
  }

  /** Generation with the active adapter (the wrapped model's generate; dropout is off unless training). */
  generate(promptIds: number[], options?: GenerateOptions): Promise<GenerateResult> {
    return this.delegate<(ids: number[], options?: GenerateOptions) => Promise<GenerateResult>>("generate")(promptIds, options);
  }

  memoryItems(): MemoryItem[] {
    return this.model.memoryItems();
  }

  /** Disposes the model with its adapters. */
  dispose(): void {
    this.model.dispose();
    this.records.clear();
  }

  /** The wrapped model's method `name`, bound, or a clear error when the model has none. */
  private delegate<F>(name: "forward" | "loss" | "generate"): F {
    const method = (this.model as unknown as Record<string, unknown>)[name];
    if (typeof method !== "function") throw new InvalidArgumentError(`LoraModel.${name}`, expected(`a wrapped model with ${name}()`, this.model.constructor.name));
    return method.bind(this.model) as F;
  }

  private record(name: string | null, where: string): AdapterRecord {
    const record = name === null ? undefined : this.records.get(name);
    if (!record) throw new InvalidArgumentError(where, expected(`an adapter name (${this.adapterNames.map((n) => JSON.stringify(n)).join(", ") || "none added yet"})`, name === null ? "no active adapter" : JSON.stringify(name)));
    return record;
  }

  private loraLayer(path: string): LoraLinear {
    const layer = this.model.linears().get(path);
    if (!(layer instanceof LoraLinear)) throw new InvalidArgumentError("LoraModel", expected(`a LoraLinear at "${path}"`, layer ? layer.constructor.name : "nothing", "The model's linear was replaced outside the LoraModel."));
    return layer;
  }

  /** Pushes active / disabled / trainable state down to every LoRA layer. */
  private applyState(): void {
    const activeTrainable = this.active !== null && this.records.get(this.active)!.trainable;
    for (const layer of this.loraLayers().values()) {
      const target = this.active !== null && layer.adapters.has(this.active) ? this.active : null;
      layer.setActiveAdapter(target);
      layer.setAdaptersDisabled(this.disabled);
      for (const adapter of layer.adapters.values()) {
        if (!activeTrainable || adapter.name !== target) {
          adapter.loraA.trainable = false;
          adapter.loraB.trainable = false;
        }
      }
    }
  }
}

/**
 * Turns `model` into a LoRA model (PEFT's get_peft_model): the base stays frozen float32, target
 * linears get seeded adapters (B = 0, so the output is unchanged until training). Changes `model` in place.
 */
export function toLoraModel<M extends AdaptableModel>(model: M, config: Partial<LoraConfig> | LoraConfig = {}, options: ToLoraModelOptions = {}): LoraModel<M> {
  freezeBase(model);
  const lora = new LoraModel(model);
  lora.addAdapter(options.adapterName ?? "default", config, options);
  return lora;
}

/** Freezes every base variable: LoRA trains only A and B (PEFT sets requires_grad False on the base). */
export function freezeBase(model: AdaptableModel): void {
  for (const linear of model.linears().values()) for (const v of linear.trainableVariables()) v.trainable = false;
  const all = (model as { trainableVariables?: () => NamedVariable[] }).trainableVariables;
  if (typeof all === "function") for (const { variable } of all.call(model)) variable.trainable = false;
}
