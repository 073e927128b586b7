// The planner's estimate for generating text on TF.js (LlamaModel.generate): the base in the storage it
// was loaded in (loadModel's dtype or quantize), the key/value cache at its full length, the weight a
// 16-bit or 4-bit projection widens for each product, and the prompt pass's activations (modelled:
// its hidden states, attention scores and MLP intermediates at once, an upper estimate).
import { InvalidArgumentError, expected } from "../errors.js";
import { quantized4bitBytes } from "../quant/quantized_tensor.js";
import { requirePositiveInteger } from "../validate.js";
import { blockLinears, type LlamaShape } from "./llama_presets.js";
import { resolveShape, type PlanComponent, type PlanModel } from "./planner.js";

/** How the base is stored for generation: loadModel's dtype ("f32", "bf16", "f16") or 4-bit type. */
export type GenerationStorage = "f32" | "bf16" | "f16" | "nf4" | "fp4";

/** What is generated. */
export interface GenerationSetup {
  /** Default "f32". */
  storage?: GenerationStorage;
  /** 4-bit storage: double quantization (default true) and block size (default 64). */
  doubleQuant?: boolean;
  blocksize?: number;
  /** Sequences generated together (default 1). */
  batch?: number;
  /** Prompt plus new tokens: the cache's full length. */
  tokens: number;
  /** Prompt tokens run in one pass (default: all of `tokens`, the upper bound). */
  promptTokens?: number;
}

/** The estimate: components with their formulas, and their sum (all resident at the peak). */
export interface GenerationPlan {
  model: string;
  shape: LlamaShape;
  setup: Required<GenerationSetup>;
  components: PlanComponent[];
  totalBytes: number;
  requiredBytes: number;
}

const STORAGES: readonly GenerationStorage[] = ["f32", "bf16", "f16", "nf4", "fp4"];

/** Bytes of generating with `model` (a preset, config.json object or shape) as `setup` says. */
export function planGeneration(model: PlanModel, setup: GenerationSetup): GenerationPlan {
  const where = "planGeneration";
  const shape = resolveShape(model);
  const s: Required<GenerationSetup> = { storage: "f32", doubleQuant: true, blocksize: 64, batch: 1, promptTokens: setup.tokens, ...stripUndefined(setup) } as Required<GenerationSetup>;
  if (!STORAGES.includes(s.storage)) throw new InvalidArgumentError(where, expected(`storage ${STORAGES.map((x) => `"${x}"`).join(", ")}`, JSON.stringify(s.storage)));
  for (const [what, v] of [["tokens", s.tokens], ["batch", s.batch], ["blocksize", s.blocksize], ["promptTokens", s.promptTokens]] as const) requirePositiveInteger(where, what, v);
  const { hiddenSize: C, intermediateSize: F, numLayers: L, vocabSize: V, numHeads: H } = shape;
  const linears = blockLinears(shape);
  const pLin = L * linears.reduce((n, l) => n + l.outFeatures * l.inFeatures, 0);
  const embed = V * C;
  const head = shape.tieWordEmbeddings ? 0 : V * C;
  const norms = (2 * L + 1) * C;
  const fmt = (n: number) => n.toLocaleString("en-US");
  const components: PlanComponent[] = [];
  const largest = Math.max(...linears.map((l) => l.outFeatures * l.inFeatures));
  if (s.storage === "f32") {
    components.push({ name: "base weights (float32)", category: "base_dense", bytes: 4 * (pLin + embed + head + norms), formula: `(P_lin + P_other) * 4 = ${fmt(pLin + embed + head + norms)} * 4` });
  } else if (s.storage === "bf16" || s.storage === "f16") {
    components.push({ name: `base projections (${s.storage}, host)`, category: "base_16bit", bytes: 2 * (pLin + head), formula: `(P_lin${head ? " + V*h" : ""}) * 2 = ${fmt(pLin + head)} * 2` });
    components.push({ name: "embeddings and norms (float32)", category: "base_dense", bytes: 4 * (embed + norms), formula: `(V*h + (2L+1)*h) * 4 = ${fmt(embed + norms)} * 4` });
    components.push({ name: "widened weight (transient)", category: "temporaries", bytes: 4 * Math.max(largest, head), formula: `largest out*in * 4 = ${fmt(Math.max(largest, head))} * 4` });
  } else {
    const q = linears.map((l) => quantized4bitBytes(l.outFeatures * l.inFeatures, s));
    components.push({ name: `${s.storage} codes (host)`, category: "base_packed", bytes: L * q.reduce((n, x) => n + x.packed, 0), formula: `P_lin / 2 = ${fmt(pLin)} / 2` });
    components.push({ name: "scales (host)", category: "quant_constants", bytes: L * q.reduce((n, x) => n + x.constants, 0), formula: `per tensor, as the QLoRA plan; x ${L * linears.length} tensors` });
    components.push({ name: "embeddings, head and norms (float32)", category: "base_dense", bytes: 4 * (embed + head + norms), formula: `(V*h${head ? " + V*h" : ""} + (2L+1)*h) * 4 = ${fmt(embed + head + norms)} * 4` });
    components.push({ name: "dequantized weight (transient)", category: "temporaries", bytes: 4 * largest, formula: `largest out*in * 4 = ${fmt(largest)} * 4` });
  }
  const kvWidth = shape.numKvHeads * shape.headDim;
  const cache = 2 * L * s.batch * s.tokens * kvWidth * 4;
  components.push({ name: "key/value cache", category: "activations", bytes: cache, formula: `2 * L * b * tokens * kv_heads*head_dim * 4 = 2 * ${L} * ${s.batch} * ${s.tokens} * ${kvWidth} * 4` });
  components.push({ name: "one layer's keys and values while appended", category: "activations", bytes: cache / L, formula: "the cache / L (the concatenation copies one layer)" });
  const rows = s.batch * s.promptTokens;
  const prompt = 4 * (rows * (6 * C + 3 * F) + 2 * s.batch * H * s.promptTokens * s.tokens) + 4 * s.batch * V;
  components.push({ name: "prompt pass (modelled)", category: "activations", bytes: prompt, formula: `4 * (b*T*(6h + 3F) + 2*b*H*T*tokens) + 4*b*V, T = ${s.promptTokens} prompt tokens` });
  const totalBytes = components.reduce((n, c) => n + c.bytes, 0);
  return { model: shape.name, shape, setup: s, components, totalBytes, requiredBytes: totalBytes };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
