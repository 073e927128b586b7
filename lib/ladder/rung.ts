// One rung of the ladder, measured in the current process: a model of a published shape (random
// weights: it measures memory and speed, never quality) or the shipped model, under one method, trained
// a few steps on random-token rows, then generating. The ladder runs each rung in a child process of
// its own (child.ts), so the process's peak RSS is the rung's and a rung that dies leaves the
// others standing.
import { readFileSync, writeFileSync } from "node:fs";
import { InvalidArgumentError, expected } from "../errors.js";
import { shippedModelPath } from "../data/shipped.js";
import { mergeAndUnload, toLora16Model, toLoraModel, toQloraModel, type LoraConfig } from "../lora/index.js";
import { MemoryLedger } from "../memory/ledger.js";
import type { MemoryCategory } from "../memory/types.js";
import { loadModel } from "../model/load_model.js";
import { modelPreset } from "../model/presets.js";
import { randomModel } from "../model/random_model.js";
import type { LlamaModel } from "../model/llama.js";
import { planMemory, type MemoryPlan } from "../plan/planner.js";
import type { TfjsBackendKind } from "../ops/footprint.js";
import { activeWasmBackend } from "../ops/wasm_heap.js";
import * as tf from "@tensorflow/tfjs-core";
import { train } from "../train/train.js";
import type { TokenSequence } from "../train/batching.js";

/** The ladder's methods: 16-bit LoRA (bfloat16 base), QLoRA (NF4 + double quantization, blocks of 64), float32 LoRA. */
export type LadderMethod = "lora16" | "qlora" | "lora32";
export const LADDER_METHODS: readonly LadderMethod[] = ["lora16", "qlora", "lora32"];

/** The shipped model's name on the ladder (its real weights; every other rung is a preset with random weights). */
export const SHIPPED_RUNG = "shipped";

/** What one rung runs. */
export interface RungSetup {
  /** A preset name (lib/model/presets.ts) or "shipped". */
  model: string;
  method: LadderMethod;
  /** Timed optimizer steps, after one warm-up step. */
  steps: number;
  batch: number;
  seqLen: number;
  /** LoRA rank on all seven block projections (alpha = 2r). */
  r: number;
  /** New tokens per timed generation. */
  generateTokens: number;
  /** Timed generations per variant (their spread is reported). */
  generateRepeats: number;
  gradientCheckpointing: boolean;
  seed: number;
}

/** Median, smallest and largest of a measured quantity. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** What a rung measured (the fields of the ladder's JSON that the rung itself knows). */
export interface RungMeasurement {
  parameters: number;
  /** The ledger's peak over two steps with the optimizer state present, in total and by category. */
  peakBytes: number;
  bytesByCategory: Partial<Record<MemoryCategory, number>>;
  /**
   * The process's peak resident set while it trained (Linux: from the model's construction on, peak
   * reset once it was built; elsewhere the process's lifetime peak), and its growth over what the
   * process held before the model existed.
   */
  peakRssBytes: number;
  rssGrowthBytes: number;
  /** What the resident set held at the end of training, by owner: the WebAssembly heap (as large as it ever grew), ArrayBuffers outside it (16- and 4-bit bases), V8's own heap. */
  rssParts: { wasmHeapBytes: number; arrayBufferBytes: number; jsHeapBytes: number };
  plannedPeakBytes: number;
  plannedErrorPercent: number;
  stepSeconds: Spread;
  tokensPerSecond: number;
  /** Greedy generation tokens/s: adapter separate, merged into the base's own precision, and (QLoRA) merged and requantized. */
  generateTokensPerSecond: { separate: Spread; merged?: Spread; requantized?: Spread };
}

const TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/** The planner's estimate for a rung (runtime tfjs), from the preset or the shipped model's config. */
export function planRung(setup: Pick<RungSetup, "model" | "method" | "batch" | "seqLen" | "r" | "gradientCheckpointing">, backend: TfjsBackendKind = "wasm"): MemoryPlan {
  const model = setup.model === SHIPPED_RUNG ? shippedConfig() : modelPreset(setup.model).name;
  return planMemory(model, {
    method: setup.method === "qlora" ? "qlora" : "lora",
    baseDtype: setup.method === "lora16" ? "bf16" : "fp32",
    runtime: "tfjs",
    backend,
    batch: setup.batch,
    seqLen: setup.seqLen,
    r: setup.r,
    targetModules: TARGETS,
    quantType: "nf4",
    doubleQuant: true,
    blocksize: 64,
    gradientCheckpointing: setup.gradientCheckpointing,
  });
}

function shippedConfig(): Record<string, unknown> {
  return JSON.parse(readFileSync(`${shippedModelPath()}/config.json`, "utf8")) as Record<string, unknown>; // the planner reads Hugging Face configs
}

/** Random token rows [seqLen] in [3, vocab), every position counted: the same rows for every method. */
function randomRows(count: number, seqLen: number, vocabSize: number, seed: number): TokenSequence[] {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return 3 + ((state >>> 0) % (vocabSize - 3));
  };
  return Array.from({ length: count }, () => {
    const ids = Array.from({ length: seqLen }, next);
    return { ids, counted: ids.map((_, i) => (i === 0 ? 0 : 1)) };
  });
}

const spread = (xs: readonly number[]): Spread => {
  const s = [...xs].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
};

/** The base model of a rung, in the method's storage, built projection by projection. */
async function buildBase(setup: RungSetup): Promise<LlamaModel> {
  if (setup.model === SHIPPED_RUNG) return loadModel(shippedModelPath());
  const storage = setup.method === "lora16" ? "bf16" : setup.method === "qlora" ? "nf4" : "f32";
  return randomModel(setup.model, { storage, seed: setup.seed }); // the untied head as toLora16Model / toQloraModel store it
}

/** Measures one rung in this process (see the file comment). */
export async function measureRung(setup: RungSetup, onPhase: (phase: string) => void = () => {}): Promise<RungMeasurement> {
  if (!LADDER_METHODS.includes(setup.method)) throw new InvalidArgumentError("measureRung", expected(`a method ${LADDER_METHODS.join(", ")}`, JSON.stringify(setup.method)));
  const backend = tf.getBackend() as TfjsBackendKind;
  const plan = planRung(setup, backend);
  const rssBefore = process.memoryUsage().rss;
  onPhase("building the model");
  const base = await buildBase(setup);
  // The model's construction leaves garbage (each projection drawn in float32 before it is stored):
  // collected, and the peak reset, so the peak is the run's, not the construction's.
  (globalThis as { gc?: () => void }).gc?.();
  const peakReset = resetPeakRss();
  const loraConfig: Partial<LoraConfig> = { r: setup.r, lora_alpha: 2 * setup.r, target_modules: TARGETS };
  const model =
    setup.model !== SHIPPED_RUNG
      ? toLoraModel(base, loraConfig, { seed: setup.seed }) // the base is already in the method's storage
      : setup.method === "lora16"
        ? toLora16Model(base, loraConfig, "bf16", { seed: setup.seed })
        : setup.method === "qlora"
          ? toQloraModel(base, loraConfig, { quantType: "nf4", doubleQuant: true, blocksize: 64 }, { seed: setup.seed })
          : toLoraModel(base, loraConfig, { seed: setup.seed });
  try {
    const parameters = plan.parameters.total;
    const rows = randomRows(setup.batch * (setup.steps + 3), setup.seqLen, base.config.vocabSize, setup.seed + 1);
    const common = { batchSize: setup.batch, maxLength: setup.seqLen, lr: 1e-4, shuffle: false, stopOnSigint: false, gradientCheckpointing: setup.gradientCheckpointing } as const;

    // Timed steps without the ledger (its profiling would slow every op), the first one a warm-up.
    onPhase(`training ${setup.steps + 1} steps`);
    const ends: number[] = [];
    let started = performance.now();
    await train(model, { sequences: rows }, { ...common, steps: setup.steps + 1, recordMemory: false, callbacks: { onStep: () => void ends.push(performance.now()) } });
    const stepMs = ends.map((end, i) => end - (i === 0 ? started : ends[i - 1]!)).slice(1);
    // Two steps with the ledger: the second has the optimizer state from the start, as every later step.
    onPhase("measuring the peak (2 steps with the ledger)");
    const ledger = new MemoryLedger();
    await train(model, { sequences: rows }, { ...common, steps: 2, ledger });
    const peak = ledger.peak();
    const { totalBytes, ...byCategory } = peak;
    const peakRss = peakReset ? readPeakRss() : process.resourceUsage().maxRSS * 1024;
    const usage = process.memoryUsage();
    const rssParts = { wasmHeapBytes: activeWasmBackend()?.memory.buffer.byteLength ?? 0, arrayBufferBytes: usage.arrayBuffers, jsHeapBytes: usage.heapTotal };

    onPhase("generating");
    const prompt = rows[0]!.ids.slice(0, 8);
    const timeGeneration = async (m: { generate: LlamaModel["generate"] }) => {
      await m.generate(prompt, { maxNewTokens: 2, temperature: 0, eosTokenId: null }); // warm-up
      const speeds: number[] = [];
      for (let i = 0; i < setup.generateRepeats; i++) {
        started = performance.now();
        const { ids } = await m.generate(prompt, { maxNewTokens: setup.generateTokens, temperature: 0, eosTokenId: null });
        speeds.push((ids.length / (performance.now() - started)) * 1000);
      }
      return spread(speeds);
    };
    const generateTokensPerSecond: RungMeasurement["generateTokensPerSecond"] = { separate: await timeGeneration(model) };
    // Merged into the base's own precision: float32 (exact), bfloat16 (rounded), or 4 bits (requantized).
    mergeAndUnload(model, { strategy: setup.method === "lora32" ? "float32" : "requantize" });
    generateTokensPerSecond[setup.method === "qlora" ? "requantized" : "merged"] = await timeGeneration(base);

    const stepSeconds = spread(stepMs.map((ms) => ms / 1000));
    return {
      parameters,
      peakBytes: totalBytes,
      bytesByCategory: Object.fromEntries(Object.entries(byCategory).filter(([, v]) => v > 0)),
      peakRssBytes: peakRss,
      rssGrowthBytes: peakRss - rssBefore,
      rssParts,
      plannedPeakBytes: plan.totalBytes,
      plannedErrorPercent: (100 * (plan.totalBytes - totalBytes)) / totalBytes,
      stepSeconds,
      tokensPerSecond: (setup.batch * setup.seqLen) / stepSeconds.median,
      generateTokensPerSecond,
    };
  } finally {
    model.dispose();
    base.dispose();
  }
}

/** Linux: resets the process's peak RSS (VmHWM) to its current RSS (/proc/self/clear_refs, "5"); false elsewhere. */
function resetPeakRss(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

/** Linux: VmHWM of /proc/self/status in bytes (the peak since the last reset). */
function readPeakRss(): number {
  const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("VmHWM:"));
  return Number(/(\d+)/.exec(line ?? "")?.[1] ?? Number.NaN) * 1024;
}
