// The LLaMA decoder (Touvron et al. 2023; Hugging Face's LlamaForCausalLM): token embedding, L blocks of
// [RMSNorm -> GQA attention with RoPE -> residual, RMSNorm -> SwiGLU MLP -> residual], final RMSNorm, head.
// Legend: B batch, T time, N = B*T rows, C hidden, H query heads, K kv heads, G = H/K, D = C/H head
// width, F intermediate, V vocab, L layers. Activations stay [N, C] between blocks so every projection
// is one Linear.apply on a 2-D tensor.
import * as tf from "@tensorflow/tfjs-core";
import { InvalidArgumentError, TensorError, expected } from "../errors.js";
import { bytesOfTensor } from "../memory/ledger.js";
import type { MemoryItem, MemoryReporter } from "../memory/types.js";
import type { NamedVariable } from "../optim/optimizer.js";
import { causalMask, groupedAttention, mergeHeads, selfAttention, splitKvHeads, splitQueryHeads, type AttentionLayout } from "./attention.js";
import { headDim, validateLlamaConfig, type LlamaConfig } from "./config.js";
import { embeddingLookup } from "./embedding.js";
import { generateTokens, type GenerateOptions, type GenerateResult } from "./generate.js";
import { KvCache } from "./kv_cache.js";
import { DenseLinear, type Linear } from "./linear.js";
import { maskedCrossEntropy } from "./loss.js";
import { matMulWeight } from "../ops/matmul.js";
import { recomputed } from "../ops/recompute.js";
import { swiglu } from "./mlp.js";
import { residualAdd } from "./residual.js";
import { rmsNorm } from "./rms_norm.js";
import { applyRope, ropeTables, type RopeTables } from "./rope.js";
import { requireFiniteValues } from "../validate.js";

/** Which weights are tf.Variables: "none" (a frozen base, for LoRA) or "all" (full training, embeddings included). */
export type Trainability = "none" | "all";

/** Options for building a model. */
export interface LlamaModelOptions {
  /** Default "none". */
  trainable?: Trainability;
  /** Projections already built, by module path (a 16-bit or 4-bit layer made without a float32 copy); `weights` then needs no entry for them. */
  linears?: ReadonlyMap<string, Linear>;
}

/** What a NaN or Infinity in a checkpoint's weight means, for the errors that refuse one. */
export const NON_FINITE_WEIGHT_HINT = "A NaN or Infinity in a weight turns every output into garbage; the checkpoint is damaged or was saved after training diverged.";

/** Options of {@link LlamaModel.loss}. */
export interface LossOptions {
  /**
   * Gradient checkpointing: under a gradient tape, keep only each decoder block's input for the
   * backward and recompute the block's activations there (default false). Same gradients, less memory.
   */
  gradientCheckpointing?: boolean;
}

/** The projections of one block, in Hugging Face module-path order. */
export const BLOCK_LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"] as const;

/** Every parameter a LlamaForCausalLM state dict holds, with its [out, in] (or [C]) shape. */
export function expectedWeightShapes(config: LlamaConfig): Map<string, number[]> {
  const { hiddenSize: C, intermediateSize: F, vocabSize: V, numKvHeads: K } = config;
  const kvWidth = K * headDim(config);
  const shapes = new Map<string, number[]>([["model.embed_tokens.weight", [V, C]]]);
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}`;
    shapes.set(`${p}.input_layernorm.weight`, [C]);
    shapes.set(`${p}.self_attn.q_proj.weight`, [C, C]);
    shapes.set(`${p}.self_attn.k_proj.weight`, [kvWidth, C]);
    shapes.set(`${p}.self_attn.v_proj.weight`, [kvWidth, C]);
    shapes.set(`${p}.self_attn.o_proj.weight`, [C, C]);
    shapes.set(`${p}.post_attention_layernorm.weight`, [C]);
    shapes.set(`${p}.mlp.gate_proj.weight`, [F, C]);
    shapes.set(`${p}.mlp.up_proj.weight`, [F, C]);
    shapes.set(`${p}.mlp.down_proj.weight`, [C, F]);
  }
  shapes.set("model.norm.weight", [C]);
  if (!config.tieWordEmbeddings) shapes.set("lm_head.weight", [V, C]);
  return shapes;
}

/** A LLaMA-family decoder whose every projection is a swappable {@link Linear}. */
export class LlamaModel implements MemoryReporter {
  readonly config: LlamaConfig;
  /** [V, C] token embedding (also the head when tied); a tf.Variable when trainable is "all". */
  readonly embedding: tf.Tensor2D;
  private readonly norms: Map<string, tf.Tensor1D>;
  private readonly linearMap: Map<string, Linear>;
  private disposed = false;

  /** Builds a model from float32 weights keyed by Hugging Face parameter names (see expectedWeightShapes). */
  constructor(config: LlamaConfig, weights: ReadonlyMap<string, Float32Array>, options: LlamaModelOptions = {}) {
    this.config = validateLlamaConfig({ ...config }, "LlamaModel");
    const trainable = (options.trainable ?? "none") === "all";
    const shapes = expectedWeightShapes(this.config);
    const prebuilt = options.linears ?? new Map<string, Linear>();
    for (const [name, shape] of shapes) {
      const given = prebuilt.get(name.slice(0, -".weight".length));
      if (given) {
        if (given.outFeatures !== shape[0] || given.inFeatures !== shape[1]) throw new TensorError("LlamaModel", expected(`a linear [out ${shape[0]}, in ${shape[1]}] for "${name}"`, `[out ${given.outFeatures}, in ${given.inFeatures}]`));
        continue;
      }
      const values = weights.get(name);
      const size = shape.reduce((a, b) => a * b, 1);
      if (!values) throw new InvalidArgumentError("LlamaModel", expected(`weight "${name}" [${shape.join(", ")}]`, "none"));
      if (values.length !== size) throw new TensorError("LlamaModel", expected(`${size} values for "${name}" [${shape.join(", ")}]`, values.length));
      requireFiniteValues("LlamaModel", name, values, NON_FINITE_WEIGHT_HINT);
    }
    const make = (name: string) => tf.tensor(weights.get(name)!, shapes.get(name)!, "float32");
    // A variable copies its initial value, so the source tensor is freed once copied.
    const param = <T extends tf.Tensor>(t: T): T => {
      if (!trainable) return t;
      const variable = tf.variable(t, true) as unknown as T;
      t.dispose();
      return variable;
    };
    this.embedding = param(make("model.embed_tokens.weight") as tf.Tensor2D);
    this.norms = new Map();
    this.linearMap = new Map();
    for (const [name] of shapes) {
      if (name.endsWith("layernorm.weight") || name === "model.norm.weight") {
        this.norms.set(name, param(make(name) as tf.Tensor1D));
      } else if (name !== "model.embed_tokens.weight") {
        const path = name.slice(0, -".weight".length);
        const given = prebuilt.get(path);
        if (given) {
          this.linearMap.set(path, given);
          continue;
        }
        const weight = make(name) as tf.Tensor2D;
        this.linearMap.set(path, new DenseLinear(weight, { name: path, trainable }));
        if (trainable) weight.dispose(); // the variable holds its own copy
      }
    }
  }

  /** Every projection keyed by Hugging Face module path ("model.layers.0.self_attn.q_proj", ..., "lm_head" when untied). */
  linears(): Map<string, Linear> {
    return new Map(this.linearMap);
  }

  /** The projection at `path`. */
  linear(path: string): Linear {
    const found = this.linearMap.get(path);
    if (!found) throw new InvalidArgumentError("LlamaModel.linear", expected(`a module path such as "model.layers.0.self_attn.q_proj"`, JSON.stringify(path)));
    return found;
  }

  /** Replaces the projection at `path` (same in/out features); returns the old one, not disposed. */
  setLinear(path: string, linear: Linear): Linear {
    const old = this.linear(path);
    if (linear.inFeatures !== old.inFeatures || linear.outFeatures !== old.outFeatures) {
      throw new TensorError("LlamaModel.setLinear", expected(`a linear [out ${old.outFeatures}, in ${old.inFeatures}] for "${path}"`, `[out ${linear.outFeatures}, in ${linear.inFeatures}]`));
    }
    this.linearMap.set(path, linear);
    return old;
  }

  /** RMSNorm weights keyed by parameter name ("model.layers.0.input_layernorm.weight", ..., "model.norm.weight"). */
  normWeights(): Map<string, tf.Tensor1D> {
    return new Map(this.norms);
  }

  /** Logits [B, T, V] for token ids [B, T] (int32), causal, teacher-forced. */
  forward(inputIds: tf.Tensor2D): tf.Tensor3D {
    const [batch, time] = this.checkIds(inputIds, "LlamaModel.forward");
    return tf.tidy(() => tf.reshape(this.head(this.hidden(inputIds)), [batch, time, this.config.vocabSize]) as tf.Tensor3D);
  }

  /** Mean cross-entropy of `targets` over positions where `mask` is 1 (targets [B, T] int32, mask [B, T] float32). */
  loss(inputIds: tf.Tensor2D, targets: tf.Tensor2D, mask: tf.Tensor2D, options: LossOptions = {}): tf.Scalar {
    const [batch, time] = this.checkIds(inputIds, "LlamaModel.loss");
    this.checkIds(targets, "LlamaModel.loss (targets)");
    if (mask.shape.length !== 2 || mask.shape[0] !== batch || mask.shape[1] !== time) {
      throw new TensorError("LlamaModel.loss", expected(`mask of shape [${batch}, ${time}]`, `[${mask.shape.join(", ")}]`));
    }
    return tf.tidy(() => {
      const rows = batch * time;
      const hidden = options.gradientCheckpointing ? this.checkpointedHidden(inputIds) : this.hidden(inputIds);
      const logits = this.head(hidden); // [N, V]
      return maskedCrossEntropy(logits, tf.reshape(targets, [rows]), tf.reshape(tf.cast(mask, "float32"), [rows]));
    });
  }

  /** A fresh, empty key/value cache for {@link decodeStep}; the caller disposes it. */
  createCache(): KvCache {
    return new KvCache(this.config.numLayers);
  }

  /** Runs ids [B, T] after the positions already in `cache`, appends them to it, and returns the last position's logits [B, V]. */
  decodeStep(inputIds: tf.Tensor2D, cache: KvCache): tf.Tensor2D {
    const [batch, time] = this.checkIds(inputIds, "LlamaModel.decodeStep");
    if (cache.length + time > this.config.maxPositionEmbeddings) {
      throw new InvalidArgumentError("LlamaModel.decodeStep", expected(`at most ${this.config.maxPositionEmbeddings} positions`, cache.length + time));
    }
    return tf.tidy(() => {
      const hidden = this.hidden(inputIds, cache); // [N, C]
      const last = tf.reshape(tf.slice(tf.reshape(hidden, [batch, time, -1]), [0, time - 1, 0], [batch, 1, -1]), [batch, -1]); // [B, C]
      return this.head(last as tf.Tensor2D); // [B, V]
    });
  }

  /** Generates tokens after `promptIds` with a KV cache (greedy, temperature, top-k, top-p, seed); streams through onToken. */
  generate(promptIds: number[], options: GenerateOptions = {}): Promise<GenerateResult> {
    return generateTokens(this, promptIds, options);
  }

  /** The parameters being trained, named by Hugging Face parameter path (LoRA layers add their own names). */
  trainableVariables(): NamedVariable[] {
    const out: NamedVariable[] = [];
    if (this.embedding instanceof tf.Variable) out.push({ name: "model.embed_tokens.weight", variable: this.embedding });
    for (const [name, weight] of this.norms) if (weight instanceof tf.Variable) out.push({ name, variable: weight });
    for (const [path, linear] of this.linearMap) {
      const variables = linear.trainableVariables();
      variables.forEach((variable, i) => {
        const name = variable.name.startsWith(`${path}.`) ? variable.name : variables.length === 1 ? `${path}.weight` : `${path}.${i}`;
        out.push({ name, variable });
      });
    }
    return out;
  }

  /** Every weight as a dense float32 tensor keyed by Hugging Face parameter name (new tensors; the caller disposes them). */
  denseWeights(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>([["model.embed_tokens.weight", tf.clone(this.embedding)]]);
    for (const [name, weight] of this.norms) out.set(name, tf.clone(weight));
    for (const [path, linear] of this.linearMap) out.set(`${path}.weight`, linear.denseWeight());
    return out;
  }

  memoryItems(): MemoryItem[] {
    const items: MemoryItem[] = [{ category: "base_dense", bytes: bytesOfTensor(this.embedding), owner: "model.embed_tokens", onBackend: true }];
    for (const [name, weight] of this.norms) items.push({ category: "base_dense", bytes: bytesOfTensor(weight), owner: name.slice(0, -".weight".length), onBackend: true });
    for (const linear of this.linearMap.values()) items.push(...linear.memoryItems());
    return items;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.embedding.dispose();
    for (const weight of this.norms.values()) weight.dispose();
    for (const linear of this.linearMap.values()) linear.dispose();
  }

  /** Final-normed hidden states [N, C] for ids [B, T], after `cache`'s positions when given. */
  private hidden(inputIds: tf.Tensor2D, cache?: KvCache): tf.Tensor2D {
    const { numLayers, numHeads, numKvHeads, rmsNormEps, ropeTheta } = this.config;
    const [batch, time] = inputIds.shape;
    const D = headDim(this.config);
    const G = numHeads / numKvHeads;
    const offset = cache?.length ?? 0;
    const rope = ropeTables(offset, time, D, ropeTheta); // cos, sin: [T, D]
    const mask = causalMask(time, offset + time, G); // [G*T, S] or undefined
    let x = embeddingLookup(this.embedding, tf.reshape(inputIds, [batch * time])); // [N, C]
    for (let l = 0; l < numLayers; l++) {
      // One block at a time in a tidy: only its output outlives it (and what the autodiff saved).
      const input = x;
      x = tf.tidy(() => this.block(l, input, { batch, kvHeads: numKvHeads, group: G, headDim: D }, rope, mask, cache));
    }
    return rmsNorm(x, this.norms.get("model.norm.weight")!, rmsNormEps);
  }

  /**
   * hidden() with each block recomputed in the backward (lib/ops/recompute.ts): the tape keeps each
   * block's input only. A block's RoPE tables and causal mask are made inside it, as the recompute in
   * the backward needs them after the forward's tensors are gone.
   */
  private checkpointedHidden(inputIds: tf.Tensor2D): tf.Tensor2D {
    const { numLayers, numHeads, numKvHeads, rmsNormEps, ropeTheta } = this.config;
    const [batch, time] = inputIds.shape;
    const D = headDim(this.config);
    const G = numHeads / numKvHeads;
    const layout: AttentionLayout = { batch, kvHeads: numKvHeads, group: G, headDim: D };
    let x = embeddingLookup(this.embedding, tf.reshape(inputIds, [batch * time])); // [N, C]
    for (let l = 0; l < numLayers; l++) {
      const block = (input: tf.Tensor2D) => this.block(l, input, layout, ropeTables(0, time, D, ropeTheta), causalMask(time, time, G));
      const linears = BLOCK_LINEARS.map((name) => this.linearMap.get(`model.layers.${l}.${name}`)!);
      const params = [...this.blockNorms(l).filter((w) => w instanceof tf.Variable), ...linears.flatMap((linear) => linear.trainableVariables())] as tf.Variable[];
      x = recomputed(block, x, params, {
        captureState: () => linears.map((linear) => linear.drawCount),
        beforeRecompute: (state) => {
          const now = linears.map((linear) => linear.drawCount);
          const setCounts = (counts: readonly (number | undefined)[]) => linears.forEach((linear, i) => counts[i] !== undefined && (linear.drawCount = counts[i]));
          setCounts(state as (number | undefined)[]);
          return () => setCounts(now);
        },
      });
    }
    return rmsNorm(x, this.norms.get("model.norm.weight")!, rmsNormEps);
  }

  /** Block `l`'s two RMSNorm weights. */
  private blockNorms(l: number): tf.Tensor1D[] {
    return [this.norms.get(`model.layers.${l}.input_layernorm.weight`)!, this.norms.get(`model.layers.${l}.post_attention_layernorm.weight`)!];
  }

  /** Decoder block `l`: x [N, C] -> x + attention(norm(x)), then + mlp(norm(.)), with `cache`'s positions before these when given. */
  private block(l: number, x: tf.Tensor2D, layout: AttentionLayout, rope: RopeTables, mask: tf.Tensor2D | undefined, cache?: KvCache): tf.Tensor2D {
    const { batch, kvHeads, group, headDim: D } = layout;
    const time = x.shape[0] / batch;
    const eps = this.config.rmsNormEps;
    const linear = (name: string) => this.linearMap.get(`model.layers.${l}.${name}`)!;
    const h = rmsNorm(x, this.norms.get(`model.layers.${l}.input_layernorm.weight`)!, eps); // [N, C]
    const qProj = linear("self_attn.q_proj").apply(h); // [N, H*D]
    const kProj = linear("self_attn.k_proj").apply(h); // [N, K*D]
    const vProj = linear("self_attn.v_proj").apply(h); // [N, K*D]
    let attended: tf.Tensor2D; // [N, C]
    if (cache) {
      const q4 = applyRope(splitQueryHeads(qProj, batch, kvHeads, group, D), rope); // [B*K, G, T, D]
      const q = tf.reshape(q4, [batch * kvHeads, group * time, D]) as tf.Tensor3D; // [B*K, G*T, D]
      const [k, v] = cache.append(l, applyRope(splitKvHeads(kProj, batch, kvHeads, D), rope), splitKvHeads(vProj, batch, kvHeads, D)); // [B*K, S, D]
      attended = mergeHeads(groupedAttention(q, k, v, mask), batch, kvHeads, group, D);
    } else {
      attended = selfAttention(qProj, kProj, vProj, layout, rope, mask);
    }
    const x1 = residualAdd(x, linear("self_attn.o_proj").apply(attended)); // [N, C]
    const h2 = rmsNorm(x1, this.norms.get(`model.layers.${l}.post_attention_layernorm.weight`)!, eps); // [N, C]
    const gated = swiglu(linear("mlp.gate_proj").apply(h2), linear("mlp.up_proj").apply(h2)); // [N, F]
    return residualAdd(x1, linear("mlp.down_proj").apply(gated)); // [N, C]
  }

  /** h: [N, C] -> logits [N, V] (tied: h E^T). */
  private head(h: tf.Tensor2D): tf.Tensor2D {
    return this.config.tieWordEmbeddings ? matMulWeight(h, this.embedding) : this.linearMap.get("lm_head")!.apply(h);
  }

  /** Validates token ids: int32, [B, T] with T >= 1, every id in [0, V). Returns [B, T]. */
  private checkIds(ids: tf.Tensor2D, where: string): [number, number] {
    if (this.disposed) throw new InvalidArgumentError(where, expected("a live model", "a disposed one"));
    if (!(ids instanceof tf.Tensor) || ids.rank !== 2) throw new TensorError(where, expected("token ids of shape [B, T]", ids instanceof tf.Tensor ? `[${ids.shape.join(", ")}]` : ids));
    if (ids.dtype !== "int32") throw new TensorError(where, expected("int32 token ids", ids.dtype, "Build them with tf.tensor2d(ids, [B, T], \"int32\")."));
    const [batch, time] = ids.shape;
    if (batch < 1 || time < 1) throw new TensorError(where, expected("at least one token", `[${batch}, ${time}]`));
    const values = ids.dataSync();
    for (let i = 0; i < values.length; i++) {
      const id = values[i]!;
      if (id < 0 || id >= this.config.vocabSize) throw new InvalidArgumentError(where, expected(`token ids in [0, ${this.config.vocabSize})`, id, `Position ${i} is out of range for this model's vocabulary.`));
    }
    return [batch, time];
  }
}
