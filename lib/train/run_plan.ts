// The planner's view of a training run about to start: the model's shape and method (LoRA on a 32-bit
// or 16-bit base, QLoRA, full fine-tuning) read from the model itself, and the batch, sequence length
// and optimizer state from the options, on the active TF.js backend. train() checks a budget with it.
import * as tf from "@tensorflow/tfjs-core";
import { InvalidArgumentError, expected } from "../errors.js";
import { HalfLinear } from "../model/half_linear.js";
import type { LlamaConfig } from "../model/config.js";
import type { Linear } from "../model/linear.js";
import { LoraLinear } from "../lora/lora_linear.js";
import { resolveStateOption } from "../optim/state_options.js";
import type { LlamaShape } from "../plan/llama_presets.js";
import type { PlanSetup } from "../plan/planner.js";
import type { TfjsBackendKind } from "../plan/tfjs_tape.js";
import type { TrainableModel } from "./model_contract.js";

/** The run's options that change its memory (a subset of TrainOptions). */
export interface RunPlanOptions {
  batchSize?: number;
  maxLength?: number;
  optimizerState?: Parameters<typeof resolveStateOption>[0] | "resident" | "8bit";
}

/** What the planner is given for `model` trained with `options`. */
export interface RunPlan {
  shape: LlamaShape;
  setup: PlanSetup;
}

interface LlamaLike {
  config: LlamaConfig;
  linears(): Map<string, Linear>;
}

interface LoraLike {
  model: LlamaLike;
  activeAdapter: string | null;
  peftConfig: ReadonlyMap<string, { r: number }>;
  adaptedModules(): string[];
}

/** The plan inputs of training `model` (a LlamaModel, or a LoraModel over one) with `options`. */
export function runPlanFor(model: TrainableModel, options: RunPlanOptions, where = "train"): RunPlan {
  const lora = "peftConfig" in model && "model" in model ? (model as unknown as LoraLike) : undefined;
  const llama = (lora?.model ?? model) as Partial<LlamaLike>;
  if (!llama.config || typeof llama.linears !== "function") {
    throw new InvalidArgumentError(where, expected("a LLaMA model (a LlamaModel or a LoraModel over one) when a budget is given", model?.constructor?.name ?? typeof model, "The planner needs the model's shape."));
  }
  const shape = shapeOfConfig(llama.config, "this model");
  const bases = [...llama.linears().values()].map((l) => (l instanceof LoraLinear ? l.base : l));
  const categories = new Set((model.memoryItems?.() ?? []).map((i) => i.category));
  const half = bases.find((b): b is HalfLinear => b instanceof HalfLinear);
  const method = lora ? (categories.has("base_packed") ? "qlora" : "lora") : "full";
  const state = resolveStateOption(options.optimizerState);
  const setup: PlanSetup = {
    method,
    runtime: "tfjs",
    backend: tfjsBackendKind(),
    batch: options.batchSize ?? 8,
    seqLen: options.maxLength ?? 128,
    optimizer: { bits: state.kind === "8bit" || state.kind === "paged-8bit" ? 8 : 32, paged: state.kind === "paged" || state.kind === "paged-8bit" },
    ...(half && method === "lora" ? { baseDtype: half.dtype === "bf16" ? "bf16" : "fp16" } : {}),
  };
  if (lora) {
    const config = lora.activeAdapter ? lora.peftConfig.get(lora.activeAdapter) : undefined;
    if (config) setup.r = config.r;
    const suffixes = [...new Set(lora.adaptedModules().map((path) => path.split(".").at(-1)!))];
    if (suffixes.length) setup.targetModules = suffixes;
  }
  return { shape, setup };
}

/** The planner's shape of a decoder config, called `name` in its messages. */
export function shapeOfConfig(c: LlamaConfig, name: string): LlamaShape {
  return { name, hiddenSize: c.hiddenSize, intermediateSize: c.intermediateSize, numLayers: c.numLayers, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.hiddenSize / c.numHeads, vocabSize: c.vocabSize, tieWordEmbeddings: c.tieWordEmbeddings };
}

/** The active backend as the planner names it (tfjs-node is "tensorflow"). */
export function tfjsBackendKind(): TfjsBackendKind {
  const name = tf.getBackend();
  return name === "wasm" || name === "cpu" ? name : "tensorflow";
}
