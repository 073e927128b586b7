// Trainable versus total parameters and their bytes (PEFT's print_trainable_parameters, plus the
// byte view QLoRA is about: 4-bit codes, scales, float32 weights, LoRA factors).
import { bytesOfTensor } from "../memory/ledger.js";
import type { MemoryItem } from "../memory/types.js";
import type { NamedVariable } from "../optim/optimizer.js";
import { LoraLinear } from "./lora_linear.js";
import { LoraModel, type AdaptableModel } from "./lora_model.js";

/** Parameters and the bytes they occupy. */
export interface ParamBytes {
  params: number;
  bytes: number;
}

/** One row of the breakdown a teacher can show as a table. */
export interface ParameterGroup extends ParamBytes {
  group: "lora (trainable)" | "lora (inactive)" | "base linears (4-bit)" | "base linears (float32)" | "embeddings and norms";
}

/** The answer of {@link countParameters}. */
export interface ParameterCount {
  trainable: ParamBytes;
  frozen: ParamBytes;
  total: ParamBytes;
  /** 100 * trainable / total parameters. */
  trainablePercent: number;
  groups: ParameterGroup[];
}

/**
 * Counts trainable and total parameters of a model or LoRA model, and their resident bytes. A 4-bit
 * weight counts as out*in parameters (not as its packed bytes, the mistake PEFT corrects for
 * bitsandbytes); its bytes are its codes plus scales.
 */
export function countParameters(model: AdaptableModel | LoraModel): ParameterCount {
  const base = model instanceof LoraModel ? model.model : model;
  const trainableVars = trainableOf(model);
  const trainableIds = new Set(trainableVars.map((v) => v.variable.id));
  const groups = new Map<ParameterGroup["group"], ParamBytes>();
  const add = (group: ParameterGroup["group"], params: number, bytes: number) => {
    const g = groups.get(group) ?? { params: 0, bytes: 0 };
    g.params += params;
    g.bytes += bytes;
    groups.set(group, g);
  };
  const linearOwners = new Set<string>();
  for (const [path, linear] of base.linears()) {
    linearOwners.add(path);
    const baseLinear = linear instanceof LoraLinear ? linear.base : linear;
    const items = baseLinear.memoryItems();
    const packed = items.some((i) => i.category === "base_packed");
    add(packed ? "base linears (4-bit)" : "base linears (float32)", baseLinear.inFeatures * baseLinear.outFeatures, sumBytes(items));
    if (linear instanceof LoraLinear) {
      for (const adapter of linear.adapters.values()) {
        const params = adapter.loraA.size + adapter.loraB.size;
        add(trainableIds.has(adapter.loraA.id) ? "lora (trainable)" : "lora (inactive)", params, adapter.bytes());
      }
    }
  }
  for (const item of base.memoryItems()) {
    if (item.category !== "base_dense" || (item.owner !== undefined && linearOwners.has(item.owner))) continue;
    add("embeddings and norms", item.bytes / 4, item.bytes);
  }
  const trainable: ParamBytes = { params: 0, bytes: 0 };
  for (const { variable } of trainableVars) {
    trainable.params += variable.size;
    trainable.bytes += bytesOfTensor(variable);
  }
  const total: ParamBytes = { params: 0, bytes: 0 };
  for (const g of groups.values()) {
    total.params += g.params;
    total.bytes += g.bytes;
  }
  return {
    trainable,
    frozen: { params: total.params - trainable.params, bytes: total.bytes - trainable.bytes },
    total,
    trainablePercent: total.params ? (100 * trainable.params) / total.params : 0,
    groups: [...groups].map(([group, pb]) => ({ group, ...pb })),
  };
}

/** PEFT's one-line summary: "trainable params: 2,048 || all params: 298,560 || trainable%: 0.6860". */
export function formatParameterCount(count: ParameterCount): string {
  const n = (x: number) => Math.round(x).toLocaleString("en-US");
  return `trainable params: ${n(count.trainable.params)} || all params: ${n(count.total.params)} || trainable%: ${count.trainablePercent.toFixed(4)}`;
}

function trainableOf(model: AdaptableModel | LoraModel): NamedVariable[] {
  if (model instanceof LoraModel) return model.trainableVariables();
  const fn = (model as { trainableVariables?: () => NamedVariable[] }).trainableVariables;
  return typeof fn === "function" ? fn.call(model).filter((v) => v.variable.trainable) : [];
}

function sumBytes(items: MemoryItem[]): number {
  return items.reduce((s, i) => s + i.bytes, 0);
}
