// The memory planner: bytes per component of a LoRA / QLoRA fine-tune of a LLaMA-family model, each
// with the formula behind it (QLoRA paper section 2-3). Activations on CUDA after Korthikanti et al.
// 2022, "Reducing Activation Recomputation", s*b*h*(34 + 5*a*s/h) bytes per layer in 16-bit; on
// TF.js, what its autodiff keeps for lib/model's own forward (tfjs_tape.ts).
import { InvalidArgumentError, expected } from "../errors.js";
import { requirePositiveInteger } from "../validate.js";
import { DEFAULT_8BIT_MIN_ELEMENTS } from "../optim/state_options.js";
import { adamwStateBytes } from "../optim/adamw.js";
import { quantized4bitBytes } from "../quant/quantized_tensor.js";
import { productEngineReport } from "../ops/native_product.js";
import { blockLinears, llamaPreset, shapeFromHfConfig, type LinearShape, type LlamaShape } from "./llama_presets.js";
import { tfjsTapeElements, type TfjsBackendKind } from "./tfjs_tape.js";
import type { MemoryCategory } from "../memory/types.js";

/** Element types the planner knows, with their byte sizes. */
export type PlanDtype = "fp32" | "bf16" | "fp16";
const DTYPE_BYTES: Record<PlanDtype, number> = { fp32: 4, bf16: 2, fp16: 2 };

/** What is being trained and how. */
export interface PlanSetup {
  /** lora: 16-bit (or fp32) frozen base + adapters; qlora: 4-bit base + adapters; full: every weight trains. */
  method: "lora" | "qlora" | "full";
  /** LoRA rank (default 16). */
  r?: number;
  /** "all-linear" (every block linear, not lm_head; the default) or module suffixes like ["q_proj", "v_proj"]. */
  targetModules?: "all-linear" | readonly string[];
  batch?: number;
  seqLen?: number;
  gradientCheckpointing?: boolean;
  optimizer?: { bits?: 32 | 8; paged?: boolean };
  /** dtype of unquantized base weights (default bf16; fp32 on TF.js, where bf16/fp16 is a LoRA base held as toLora16Model holds it). */
  baseDtype?: PlanDtype;
  /** dtype activations are computed in (default bf16). */
  computeDtype?: PlanDtype;
  /** dtype of LoRA weights and their gradients (default fp32). */
  loraDtype?: PlanDtype;
  /** QLoRA: 4-bit data type (sizes are equal for nf4 and fp4), block size and double quantization. */
  quantType?: "nf4" | "fp4";
  blocksize?: number;
  doubleQuant?: boolean;
  /**
   * "cuda": a PyTorch-style run (16-bit compute, modelled activations, CUDA context / allocator term).
   * "tfjs": this library's own training loop on TensorFlow.js: float32 compute (a LoRA base may be held
   * in 16 bits), gradient checkpointing off by default (lib/train's option), activations as TF.js's
   * autodiff holds them, no runtime term (TF.js counts tensors only).
   */
  runtime?: "cuda" | "tfjs";
  /** runtime "tfjs": the backend whose kernels the activation count follows (default "wasm"; "tensorflow" is tfjs-node). */
  backend?: TfjsBackendKind;
  /**
   * runtime "tfjs": which engine multiplies: "native" (onnxruntime-node, lib/ops/native_product.ts: a
   * product allocates only its output) or "tfjs" (the backend's kernels, with wasm's transposed copies).
   * Default: the engine this process's products use (wasm and cpu backends), else "tfjs".
   */
  products?: "native" | "tfjs";
}

/** A setup with every default filled in (`backend` and `products` only for runtime "tfjs"). */
export type ResolvedPlanSetup = Required<Omit<PlanSetup, "optimizer" | "targetModules" | "backend" | "products">> & {
  optimizer: { bits: 32 | 8; paged: boolean };
  targetModules: "all-linear" | readonly string[];
  backend?: TfjsBackendKind;
  products?: "native" | "tfjs";
};

/** What a plan's component is for: a ledger category, or "runtime" (CUDA context, allocator slack). */
export type PlanCategory = MemoryCategory | "runtime";

/** One line of the plan. */
export interface PlanComponent {
  name: string;
  category: PlanCategory;
  bytes: number;
  /** The formula, with the numbers put in. */
  formula: string;
  /** True when paging may move these bytes to host memory under pressure (paged optimizer state). */
  pageable?: boolean;
}

/** The plan for one model and setup. */
export interface MemoryPlan {
  model: string;
  shape: LlamaShape;
  setup: ResolvedPlanSetup;
  parameters: { total: number; quantizedLinear: number; trainable: number };
  components: PlanComponent[];
  /** Sum of all components. */
  totalBytes: number;
  /** totalBytes minus pageable state: what must fit on the device. */
  requiredBytes: number;
}

/** GPU sizes `fitsGpus` reports, in GB as GPUs are sold (binary: an "80 GB" A100 holds 80 GiB = 81920 MiB). */
export const GPU_SIZES_GB = [12, 16, 24, 48, 80] as const;

/**
 * Runtime overhead on CUDA, modelled, not measured: a CUDA context with kernels and cuBLAS workspace
 * (about 0.5-1 GB on recent GPUs/drivers; we take 0.75 GiB) plus 5% of tensor bytes for the caching
 * allocator's fragmentation and rounding.
 */
export const CUDA_CONTEXT_BYTES = 0.75 * 2 ** 30;
/** Fraction of tensor bytes added for allocator fragmentation on CUDA. */
export const CUDA_FRAGMENTATION = 0.05;

/** Defaults: the common recipe (bf16 base for LoRA, NF4 + DQ for QLoRA, r = 16 on all linear layers, batch 1, seq 512, checkpointing, AdamW 32-bit). */
export const DEFAULT_PLAN_SETUP: Omit<ResolvedPlanSetup, "method"> = {
  r: 16,
  targetModules: "all-linear",
  batch: 1,
  seqLen: 512,
  gradientCheckpointing: true,
  optimizer: { bits: 32, paged: false },
  baseDtype: "bf16",
  computeDtype: "bf16",
  loraDtype: "fp32",
  quantType: "nf4",
  blocksize: 64,
  doubleQuant: true,
  runtime: "cuda",
};

/**
 * Defaults for runtime "tfjs", what lib/train does: float32 weights and compute (the loaders widen
 * f16/bf16 checkpoints unless told to keep 16 bits; baseDtype bf16 or fp16 plans a LoRA base held as
 * toLora16Model holds it), no gradient checkpointing (lib/train's default: every activation kept), the wasm backend.
 */
export const TFJS_PLAN_DEFAULTS = { baseDtype: "fp32", computeDtype: "fp32", loraDtype: "fp32", gradientCheckpointing: false, backend: "wasm" } as const;

const TFJS_BACKENDS: readonly TfjsBackendKind[] = ["wasm", "cpu", "tensorflow"];

/** Validates a setup and fills defaults (the CUDA recipe, or {@link TFJS_PLAN_DEFAULTS} for runtime "tfjs"). */
export function resolvePlanSetup(setup: PlanSetup): ResolvedPlanSetup {
  const fn = "planMemory";
  if (!setup || !["lora", "qlora", "full"].includes(setup.method)) throw new InvalidArgumentError(fn, expected('setup.method "lora", "qlora" or "full"', setup?.method));
  const tfjs = setup.runtime === "tfjs";
  const defaults = tfjs ? { ...DEFAULT_PLAN_SETUP, ...TFJS_PLAN_DEFAULTS, runtime: "tfjs" as const } : DEFAULT_PLAN_SETUP;
  const s: ResolvedPlanSetup = { ...defaults, ...stripUndefined(setup), optimizer: { ...DEFAULT_PLAN_SETUP.optimizer, ...stripUndefined(setup.optimizer ?? {}) } } as ResolvedPlanSetup;
  for (const [what, v] of [["r", s.r], ["batch", s.batch], ["seqLen", s.seqLen], ["blocksize", s.blocksize]] as const) requirePositiveInteger(fn, what, v);
  for (const [what, v] of [["baseDtype", s.baseDtype], ["computeDtype", s.computeDtype], ["loraDtype", s.loraDtype]] as const) {
    if (!(v in DTYPE_BYTES)) throw new InvalidArgumentError(fn, expected(`${what} fp32, bf16 or fp16`, v));
  }
  if (s.optimizer.bits !== 32 && s.optimizer.bits !== 8) throw new InvalidArgumentError(fn, expected("optimizer.bits 32 or 8", s.optimizer.bits));
  if (s.runtime !== "cuda" && s.runtime !== "tfjs") throw new InvalidArgumentError(fn, expected('runtime "cuda" or "tfjs"', s.runtime));
  if (s.backend !== undefined && !tfjs) throw new InvalidArgumentError(fn, expected('backend only with runtime "tfjs"', s.backend, "The backend names a TF.js backend; CUDA plans have none."));
  if (s.products !== undefined && !tfjs) throw new InvalidArgumentError(fn, expected('products only with runtime "tfjs"', s.products));
  if (tfjs) {
    if (!TFJS_BACKENDS.includes(s.backend!)) throw new InvalidArgumentError(fn, expected(`backend ${TFJS_BACKENDS.join(", ")}`, s.backend));
    if (s.products !== undefined && s.products !== "native" && s.products !== "tfjs") throw new InvalidArgumentError(fn, expected('products "native" or "tfjs"', s.products));
    // The native engine serves the wasm and cpu backends only (tfjs-node multiplies natively itself).
    s.products ??= s.backend !== "tensorflow" && productEngineReport().engine !== "tfjs" ? "native" : "tfjs";
    if (s.products === "native" && s.backend === "tensorflow") throw new InvalidArgumentError(fn, expected('products "tfjs" with backend "tensorflow"', s.products, "The native engine serves the wasm and cpu backends."));
    for (const [what, v] of [["computeDtype", s.computeDtype], ["loraDtype", s.loraDtype]] as const) {
      if (v !== "fp32") throw new InvalidArgumentError(fn, expected(`${what} fp32 for runtime "tfjs"`, v, "TF.js computes in float32 only."));
    }
    // A 16-bit base on TF.js is HalfLinear: the projections' bits on the host, widened per product.
    if (s.baseDtype !== "fp32" && s.method !== "lora") {
      throw new InvalidArgumentError(fn, expected(`baseDtype fp32 for method "${s.method}" on runtime "tfjs"`, s.baseDtype, 'Only a LoRA base is held in 16 bits on TF.js (toLora16Model); full fine-tuning trains float32 weights.'));
    }
  }
  if (s.targetModules !== "all-linear" && (!Array.isArray(s.targetModules) || s.targetModules.length === 0)) {
    throw new InvalidArgumentError(fn, expected('targetModules "all-linear" or a non-empty list of module names', s.targetModules));
  }
  return s;
}

/** A model to plan for: a preset name ("7b", "llama2-70b", ...), a config.json object, or a shape. */
export type PlanModel = string | Record<string, unknown> | LlamaShape;

/** Resolves a preset name, HF config object or shape to a shape. */
export function resolveShape(model: PlanModel): LlamaShape {
  if (typeof model === "string") return llamaPreset(model);
  if ("hiddenSize" in model) return model as LlamaShape;
  return shapeFromHfConfig(model as Record<string, unknown>);
}

/** Bytes per component of fine-tuning `model` with `setup`, each with its formula. */
export function planMemory(model: PlanModel, setup: PlanSetup): MemoryPlan {
  const shape = resolveShape(model);
  const s = resolvePlanSetup(setup);
  const { hiddenSize: h, numLayers: L, vocabSize: V } = shape;
  const linears = blockLinears(shape);
  const targets = s.targetModules === "all-linear" ? linears : linears.filter((l) => (s.targetModules as readonly string[]).some((t) => l.module === t || l.module.endsWith(t)));
  if (s.method !== "full" && targets.length === 0) {
    throw new InvalidArgumentError("planMemory", expected(`targetModules naming block linears (${linears.map((l) => l.module).join(", ")})`, s.targetModules));
  }
  const perLayerLinear = sum(linears.map((l) => l.outFeatures * l.inFeatures));
  const pLin = L * perLayerLinear;
  const embed = V * h;
  const head = shape.tieWordEmbeddings ? 0 : V * h;
  const norms = (2 * L + 1) * h;
  const pOther = embed + head + norms;
  const baseBytes = DTYPE_BYTES[s.baseDtype];
  const cb = DTYPE_BYTES[s.computeDtype];
  const lb = DTYPE_BYTES[s.loraDtype];
  const components: PlanComponent[] = [];
  const add = (c: PlanComponent) => components.push(c);
  const fmt = (n: number) => n.toLocaleString("en-US");

  if (s.method === "qlora") {
    const quantized = linears.map((l) => quantized4bitBytes(l.outFeatures * l.inFeatures, s));
    add({ name: `${s.quantType} codes`, category: "base_packed", bytes: L * sum(quantized.map((q) => q.packed)), formula: `P_lin / 2 = ${fmt(pLin)} / 2` });
    add({
      name: s.doubleQuant ? "scales (double-quantized)" : "scales (float32 absmax)",
      category: "quant_constants",
      bytes: L * sum(quantized.map((q) => q.constants)),
      formula: s.doubleQuant
        ? `per tensor ceil(n/${s.blocksize}) + 4*ceil(ceil(n/${s.blocksize})/256) + 4*(16+256+1) (maps, offset); x ${L * linears.length} tensors`
        : `per tensor 4*ceil(n/${s.blocksize}) + 64 (code book); x ${L * linears.length} tensors`,
    });
    add({ name: "other base params (embeddings, head, norms)", category: baseBytes === 2 ? "base_16bit" : "base_dense", bytes: pOther * baseBytes, formula: `(V*h${head ? " + V*h" : ""} + (2L+1)*h) * ${baseBytes} = ${fmt(pOther)} * ${baseBytes}` });
    // On TF.js the dequantized weight lives only inside a 4-bit layer's forward or backward, gone
    // by the end of the backward where the peak is (tfjs_tape.ts).
    const largest = Math.max(...linears.map((l) => l.outFeatures * l.inFeatures));
    if (s.runtime === "cuda") add({ name: "dequantized weight (transient)", category: "temporaries", bytes: largest * cb, formula: `largest out*in * ${cb} = ${fmt(largest)} * ${cb}` });
  } else if (s.runtime === "tfjs" && s.baseDtype !== "fp32") {
    // toLora16Model: every projection (lm_head included) in 16 bits on the host; embeddings and norms float32.
    add({ name: `base projections (${s.baseDtype}, host)`, category: "base_16bit", bytes: (pLin + head) * baseBytes, formula: `(P_lin${head ? " + V*h" : ""}) * ${baseBytes} = ${fmt(pLin + head)} * ${baseBytes}` });
    add({ name: "embeddings and norms (float32)", category: "base_dense", bytes: (embed + norms) * 4, formula: `(V*h + (2L+1)*h) * 4 = ${fmt(embed + norms)} * 4` });
  } else {
    add({ name: `base weights (${s.baseDtype})`, category: baseBytes === 2 ? "base_16bit" : "base_dense", bytes: (pLin + pOther) * baseBytes, formula: `(P_lin + P_other) * ${baseBytes} = ${fmt(pLin + pOther)} * ${baseBytes}` });
  }

  // Trainable tensors: adapters (r x in and out x r per targeted linear) or every weight.
  const trainableTensors =
    s.method === "full"
      ? [...Array(L).fill(0).flatMap(() => [...linears.map((l) => l.outFeatures * l.inFeatures), h, h]), embed, ...(head ? [head] : []), h]
      : Array(L).fill(0).flatMap(() => targets.flatMap((l) => [s.r * l.inFeatures, l.outFeatures * s.r]));
  const pTrain = sum(trainableTensors);
  const trainBytes = s.method === "full" ? baseBytes : lb;
  if (s.method !== "full") {
    const pl = sum(targets.map((l) => s.r * (l.inFeatures + l.outFeatures)));
    add({ name: "LoRA parameters", category: "lora_params", bytes: pTrain * lb, formula: `P_L * ${lb}, P_L = L * sum r*(in+out) = ${L} * ${fmt(pl)} = ${fmt(pTrain)}` });
  }
  add({ name: "gradients", category: "gradients", bytes: pTrain * trainBytes, formula: `P_train * ${trainBytes} = ${fmt(pTrain)} * ${trainBytes}` });
  const opt = optimizerStateBytes(trainableTensors, s.optimizer.bits, s.runtime === "tfjs" ? "tfjs" : "bitsandbytes");
  add({
    name: `AdamW ${s.optimizer.bits}-bit state${s.optimizer.paged ? " (paged)" : ""}`,
    category: s.optimizer.paged ? "optimizer_paged_out" : "optimizer_resident",
    bytes: opt,
    formula: s.optimizer.bits === 32 ? `8 * P_train = 8 * ${fmt(pTrain)}` : `per tensor >= ${DEFAULT_8BIT_MIN_ELEMENTS}: 2n${s.runtime === "tfjs" ? " (n rounded up to 4)" : ""} + 8*ceil(n/256), smaller: 8n (about 2.03 * P_train)`,
    pageable: s.optimizer.paged,
  });

  if (s.runtime === "tfjs") {
    for (const c of tfjsActivations(shape, s, targets, pTrain)) add(c);
  } else {
    for (const c of cudaActivations(shape, s)) add(c);
  }

  const tensorBytes = sum(components.map((c) => c.bytes));
  if (s.runtime === "cuda") {
    add({
      name: "CUDA context + allocator overhead (modelled)",
      category: "runtime",
      bytes: Math.round(CUDA_CONTEXT_BYTES + CUDA_FRAGMENTATION * tensorBytes),
      formula: `0.75 GiB context/kernels/cuBLAS workspace + ${CUDA_FRAGMENTATION * 100}% of tensors for fragmentation`,
    });
  }
  const totalBytes = sum(components.map((c) => c.bytes));
  const pageable = sum(components.filter((c) => c.pageable).map((c) => c.bytes));
  return {
    model: shape.name,
    shape,
    setup: s,
    parameters: { total: pLin + pOther, quantizedLinear: s.method === "qlora" ? pLin : 0, trainable: pTrain },
    components,
    totalBytes,
    requiredBytes: totalBytes - pageable,
  };
}

/** Activations of a PyTorch-style run: checkpoints plus one recomputed layer, or every layer, plus the logits. */
function cudaActivations(shape: LlamaShape, s: ResolvedPlanSetup): PlanComponent[] {
  const { hiddenSize: h, numLayers: L, vocabSize: V, numHeads: a } = shape;
  const cb = DTYPE_BYTES[s.computeDtype];
  const fmt = (n: number) => n.toLocaleString("en-US");
  const out: PlanComponent[] = [];
  const bsh = s.batch * s.seqLen * h;
  const fullLayer = Math.round(bsh * (34 + (5 * a * s.seqLen) / h) * (cb / 2));
  if (s.gradientCheckpointing) {
    out.push({ name: "activations: checkpoints", category: "activations", bytes: L * bsh * cb, formula: `L * b*s*h * ${cb} = ${L} * ${fmt(bsh)} * ${cb}` });
    out.push({ name: "activations: one layer recomputed", category: "activations", bytes: fullLayer, formula: `s*b*h*(34 + 5*a*s/h) * ${cb}/2 = ${fmt(bsh)} * ${(34 + (5 * a * s.seqLen) / h).toFixed(2)}${cb === 2 ? "" : ` * ${cb / 2}`}` });
  } else {
    out.push({ name: "activations", category: "activations", bytes: L * fullLayer, formula: `L * s*b*h*(34 + 5*a*s/h) * ${cb}/2 = ${L} * ${fmt(fullLayer)}` });
  }
  const bsv = s.batch * s.seqLen * V;
  out.push({ name: "logits, float32 copy for the loss, its gradient", category: "activations", bytes: bsv * (cb + 4 + 4), formula: `b*s*V * (${cb} + 4 + 4) = ${fmt(bsv)} * ${cb + 8}` });
  return out;
}

/**
 * Activations of lib/train's loop on TF.js: what the autodiff holds at the step's peak
 * (tfjs_tape.ts walks lib/model's forward and backward op by op), less the trainable variables' gradients, which
 * are their own component. Everything here is transient, so a MemoryLedger files all of it under
 * "activations" (the forward+backward phase's peak above its end).
 */
function tfjsActivations(shape: LlamaShape, s: ResolvedPlanSetup, targets: readonly LinearShape[], trainable: number): PlanComponent[] {
  const tape = tfjsTapeElements({
    shape, batch: s.batch, seqLen: s.seqLen, method: s.method, r: s.r, targets: targets.map((t) => t.module), backend: s.backend ?? TFJS_PLAN_DEFAULTS.backend,
    nativeProducts: s.products === "native",
    base16: s.method === "lora" && s.baseDtype !== "fp32",
    gradientCheckpointing: s.gradientCheckpointing,
  });
  const fmt = (n: number) => n.toLocaleString("en-US");
  const rows = s.batch * s.seqLen;
  const where = `b*s = ${fmt(rows)} rows${s.gradientCheckpointing ? ", each block recomputed in the backward" : ""}; the last block's share`;
  return [
    {
      name: "activations: tensors saved for the backward",
      category: "activations",
      bytes: 4 * tape.saved,
      formula:
        `4 * ${fmt(tape.saved)} elements (${where}: ${fmt(tape.perLayer.saved)}): copies of what each op's gradient reads, freed once it has run` +
        (s.gradientCheckpointing ? `; with checkpointing, each block's input (L * b*s*h = ${fmt(shape.numLayers * rows * shape.hiddenSize)} at most) and one block's recompute` : ""),
    },
    {
      name: "activations: gradients of intermediates",
      category: "activations",
      bytes: 4 * (tape.gradients - trainable),
      formula: `4 * (${fmt(tape.gradients)} - P_train ${fmt(trainable)}) elements (${where}: ${fmt(tape.perLayer.gradients)}): gradients of intermediates not yet read, and running sums`,
    },
    {
      name: "activations: backward temporaries",
      category: "activations",
      bytes: 4 * tape.temporaries,
      formula: `4 * ${fmt(tape.temporaries)} elements (${where}: ${fmt(tape.perLayer.temporaries)}): outputs in scope, unused gradients of inputs off the path, transposed copies, the running op's helpers`,
    },
  ];
}

/** AdamW state bytes for tensors of the given sizes: 8 per element, or 8-bit blockwise for tensors >= 4096 elements, as lib/optim ("tfjs") or bitsandbytes holds them. */
export function optimizerStateBytes(tensorSizes: readonly number[], bits: 32 | 8, layout: "tfjs" | "bitsandbytes" = "bitsandbytes"): number {
  return sum(tensorSizes.map((n) => adamwStateBytes(n, bits, layout)));
}

/** Which GPU sizes (GB) hold the plan's required bytes, and how many of the largest it would take. */
export function fitsGpus(plan: MemoryPlan, sizesGb: readonly number[] = GPU_SIZES_GB): { gpus: Array<{ gb: number; fits: boolean }>; largestGpusNeeded: number } {
  const gpus = sizesGb.map((gb) => ({ gb, fits: plan.requiredBytes <= gb * GIB }));
  const largest = Math.max(...sizesGb);
  return { gpus, largestGpusNeeded: Math.ceil(plan.requiredBytes / (largest * GIB)) };
}

/** Totals by category (runtime overhead under "runtime"). */
export function planByCategory(plan: MemoryPlan): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of plan.components) out[c.category] = (out[c.category] ?? 0) + c.bytes;
  return out;
}

const GIB = 2 ** 30;

/** A plain float32 stack of dense layers (x [B, dims[0]] -> ... -> [B, dims.at(-1)], tanh between), fully trained with AdamW. */
export interface DenseStackModel {
  dims: readonly number[];
  batch: number;
}

/**
 * Plans a float32 full fine-tune of a dense stack on TF.js (no runtime overhead), for comparing the
 * planner with the ledger on the small models trained here: weights, gradients and AdamW state per
 * parameter, the data batch, and the larger of two working sets: forward+backward (per hidden unit
 * the pre-activation and tanh output plus four backward temporaries, per output unit three) and the
 * AdamW update (six float32 copies of the largest tensor, as lib/optim's elementwise update holds).
 */
export function planDenseStack(model: DenseStackModel, options: { optimizerBits?: 32 | 8 } = {}): { components: PlanComponent[]; totalBytes: number } {
  const { dims, batch: B } = model;
  if (dims.length < 2 || !dims.every((d) => Number.isInteger(d) && d > 0) || !(Number.isInteger(B) && B > 0)) {
    throw new InvalidArgumentError("planDenseStack", expected("dims of at least two positive integers and a positive batch", { dims, batch: B }));
  }
  const sizes = dims.slice(1).map((out, i) => out * dims[i]!);
  const P = sum(sizes);
  const bits = options.optimizerBits ?? 32;
  const hidden = sum(dims.slice(1, -1));
  const out = dims.at(-1)!;
  const forwardBackward = 4 * B * (6 * hidden + 3 * out);
  const update = 4 * TFJS_ADAMW_WORKING_COPIES * Math.max(...sizes);
  const components: PlanComponent[] = [
    { name: "weights", category: "base_dense", bytes: 4 * P, formula: `4 * P = 4 * ${P}` },
    { name: "gradients", category: "gradients", bytes: 4 * P, formula: `4 * P = 4 * ${P}` },
    { name: `AdamW ${bits}-bit state`, category: "optimizer_resident", bytes: optimizerStateBytes(sizes, bits, "tfjs"), formula: bits === 32 ? `8 * P` : "2n + 8*ceil(n/256) per tensor >= 4096, else 8n" },
    { name: "data batch (x, y)", category: "activations", bytes: B * (dims[0]! + out) * 4, formula: `B * (d_in + d_out) * 4` },
    forwardBackward >= update
      ? { name: "forward+backward working set (peak)", category: "activations", bytes: forwardBackward, formula: `4 * B * (6 * sum(hidden) + 3 * d_out) = 4 * ${B} * (6 * ${hidden} + 3 * ${out})` }
      : { name: "AdamW update working set (peak)", category: "temporaries", bytes: update, formula: `4 * ${TFJS_ADAMW_WORKING_COPIES} * largest tensor = 4 * ${TFJS_ADAMW_WORKING_COPIES} * ${Math.max(...sizes)}` },
  ];
  return { components, totalBytes: sum(components.map((c) => c.bytes)) };
}

/** float32 copies of a tensor lib/optim's AdamW update holds at its peak on TF.js (measured with the ledger). */
export const TFJS_ADAMW_WORKING_COPIES = 6;

function sum(values: readonly number[]): number {
  return values.reduce((s, v) => s + v, 0);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export type { LinearShape };
