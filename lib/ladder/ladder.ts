// The ladder: the article's table measured on this machine. For each model size and method, a child
// process (child.ts) builds the model, trains a few steps on random-token rows and generates, and
// reports its ledger peak, its peak RSS and its speeds beside the planner's prediction; a rung the
// budget cannot hold is refused before it starts, and a rung that fails is reported and the ladder goes
// on. Models of published shapes have random weights: they measure memory and speed, never quality.
import { spawn } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { InvalidArgumentError, expected } from "../errors.js";
import { formatBytes } from "../format.js";
import { budgetBytes } from "../memory/byte_size.js";
import type { MemoryCategory } from "../memory/types.js";
import { modelPreset } from "../model/presets.js";
import { planMemory } from "../plan/planner.js";
import { backendBytes } from "../plan/budget.js";
import { WASM_HEAP_LIMIT_BYTES } from "../ops/wasm_heap_limit.js";
import { productEngineReport } from "../ops/native_product.js";
import * as tf from "@tensorflow/tfjs-core";
import { LADDER_METHODS, SHIPPED_RUNG, planRung, type LadderMethod, type RungMeasurement, type RungSetup, type Spread } from "./rung.js";

export { LADDER_METHODS, SHIPPED_RUNG, type LadderMethod, type Spread };

/** The default sizes: the shipped model and three published shapes up to 1.1 B parameters (llama-2-7b and llama-3.1-8b are opt-in). */
export const DEFAULT_LADDER_SIZES = [SHIPPED_RUNG, "smollm2-135m", "smollm2-360m", "tinyllama-1.1b"];
/** Memory tiers the ladder says a run fits (GiB: laptops' RAM and GPUs' memory as sold). */
export const MEMORY_TIERS_GIB = [4, 6, 8, 12, 16, 24, 48, 80] as const;

/** Options of {@link runLadder}. */
export interface LadderOptions {
  /** Preset names or "shipped" (default {@link DEFAULT_LADDER_SIZES}). */
  sizes?: readonly string[];
  /** Default ["lora16", "qlora"]. */
  methods?: readonly LadderMethod[];
  /** Timed training steps per rung, after one warm-up (default 3). */
  steps?: number;
  /** Sequences per step (default 1) and tokens per sequence (default 128). */
  batch?: number;
  seqLen?: number;
  /** LoRA rank on the seven block projections (default 16). */
  r?: number;
  /** New tokens per timed generation (default 16) and timed generations per variant (default 3). */
  generateTokens?: number;
  generateRepeats?: number;
  gradientCheckpointing?: boolean;
  /** Bytes or a size ("8GiB"): a rung whose planned peak is over it is refused before it starts (as is one whose WebAssembly heap share is past 4 GiB). */
  budget?: number | string;
  seed?: number;
  /** Called as rungs start, change phase and end (a progress line, an updating chart). */
  onProgress?: (event: LadderProgress) => void;
  /** Stops between rungs (and kills the running one) when aborted. */
  signal?: AbortSignal;
}

/** A progress event. */
export interface LadderProgress {
  /** 0-based index of the rung and how many there are. */
  index: number;
  total: number;
  model: string;
  method: LadderMethod;
  phase: string;
  /** Set when the rung has ended. */
  rung?: LadderRung;
}

/** Whether a run fits a memory tier, and whether that was measured (peak RSS) or planned. */
export interface TierFit {
  tierGiB: number;
  fits: boolean;
  basis: "measured" | "planned";
}

/** One rung of the ladder's JSON. */
export interface LadderRung {
  model: string;
  /** Random weights of a published shape, or the shipped model's trained ones. */
  weights: "random" | "shipped";
  parameters: number;
  method: LadderMethod;
  status: "ok" | "refused" | "failed";
  reason?: string;
  peakBytes?: number;
  peakRssBytes?: number;
  rssGrowthBytes?: number;
  rssParts?: RungMeasurement["rssParts"];
  plannedPeakBytes: number;
  plannedErrorPercent?: number;
  bytesByCategory?: Partial<Record<MemoryCategory, number>>;
  stepSeconds?: Spread;
  tokensPerSecond?: number;
  /** Medians; their spreads are in generateSpread. */
  generateTokensPerSecond?: { separate: number; merged?: number; requantized?: number };
  generateSpread?: RungMeasurement["generateTokensPerSecond"];
  tiers: TierFit[];
}

/** The planner's figures for sizes past the ladder (what the article's 7B and 70B rows say). */
export interface PlannedRow {
  model: string;
  parameters: number;
  method: LadderMethod;
  /** This library's own training on TF.js, and a PyTorch-style CUDA run (the article's basis). */
  tfjsPeakBytes: number;
  cudaPeakBytes: number;
  tiers: TierFit[];
}

/** The ladder's JSON. */
export interface LadderResult {
  machine: { cpu: string; cores: number; memoryBytes: number; node: string; backend: string; products: string; threads: number };
  settings: Required<Omit<LadderOptions, "onProgress" | "signal" | "budget">> & { budgetBytes?: number };
  rungs: LadderRung[];
  planned: PlannedRow[];
  seconds: number;
}

const tiersFor = (bytes: number, basis: TierFit["basis"]): TierFit[] => MEMORY_TIERS_GIB.map((tierGiB) => ({ tierGiB, fits: bytes <= tierGiB * 2 ** 30, basis }));

/** Where the child entry is: beside this file in the sources, lib/ladder/child.js beside the package bundle. */
function childCommand(): { args: string[] } {
  const here = import.meta.url;
  // --expose-gc: the rung collects its model's construction garbage before it measures (rung.ts).
  if (here.endsWith(".ts")) return { args: ["--expose-gc", "--import", import.meta.resolve("tsx"), new URL("./child.ts", here).pathname] };
  return { args: ["--expose-gc", new URL("./ladder/child.js", here).pathname] };
}

/** Runs one rung in a child process; resolves with its measurement or rejects with why it failed. */
function runChild(setup: RungSetup, onPhase: (phase: string) => void, signal?: AbortSignal): Promise<RungMeasurement> {
  return new Promise((resolve, reject) => {
    const { args } = childCommand();
    const child = spawn(process.execPath, [...args, JSON.stringify(setup)], { stdio: ["ignore", "pipe", "pipe"], env: process.env });
    let stdout = "";
    let stderr = "";
    let result: RungMeasurement | undefined;
    const kill = () => child.kill("SIGKILL");
    signal?.addEventListener("abort", kill, { once: true });
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      let newline: number;
      while ((newline = stdout.indexOf("\n")) >= 0) {
        const line = stdout.slice(0, newline);
        stdout = stdout.slice(newline + 1);
        try {
          const message = JSON.parse(line) as { phase?: string; result?: RungMeasurement };
          if (message.phase) onPhase(message.phase);
          if (message.result) result = message.result;
        } catch {
          // not one of the child's messages (a library's own print): ignored
        }
      }
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-8192)));
    child.on("error", reject);
    child.on("close", (code, signalName) => {
      signal?.removeEventListener("abort", kill);
      if (result && code === 0) return resolve(result);
      const last = stderr.trim().split("\n").filter((l) => l.trim() !== "").pop();
      const why = signalName ? `the rung's process was killed by ${signalName}${signalName === "SIGKILL" && !signal?.aborted ? " (out of memory?)" : ""}` : `the rung's process exited with code ${code}`;
      reject(new Error(last ? `${why}: ${last}` : why));
    });
  });
}

/** Runs the ladder (see the file comment); each rung's setup is checked before any runs. */
export async function runLadder(options: LadderOptions = {}): Promise<LadderResult> {
  const where = "runLadder";
  const started = performance.now();
  const sizes = options.sizes ?? DEFAULT_LADDER_SIZES;
  const methods = options.methods ?? ["lora16", "qlora"];
  for (const size of sizes) if (size !== SHIPPED_RUNG) modelPreset(size); // an unknown name lists the known ones
  for (const method of methods) if (!LADDER_METHODS.includes(method)) throw new InvalidArgumentError(where, expected(`methods among ${LADDER_METHODS.join(", ")}`, JSON.stringify(method)));
  const settings = {
    sizes: [...sizes],
    methods: [...methods],
    steps: options.steps ?? 3,
    batch: options.batch ?? 1,
    seqLen: options.seqLen ?? 128,
    r: options.r ?? 16,
    generateTokens: options.generateTokens ?? 16,
    generateRepeats: options.generateRepeats ?? 3,
    gradientCheckpointing: options.gradientCheckpointing ?? false,
    seed: options.seed ?? 0,
  };
  for (const key of ["steps", "batch", "seqLen", "r", "generateTokens", "generateRepeats"] as const) {
    const v = settings[key];
    if (!Number.isInteger(v) || v < 1) throw new InvalidArgumentError(where, expected(`${key} a positive integer`, v));
  }
  const budget = options.budget === undefined ? undefined : budgetBytes(options.budget, where);
  const backend = tf.getBackend();
  const products = productEngineReport();
  const rungs: LadderRung[] = [];
  const plan = [...sizes].flatMap((model) => methods.map((method) => ({ model, method })));
  for (const [index, { model, method }] of plan.entries()) {
    if (options.signal?.aborted) break;
    const setup: RungSetup = { model, method, ...settings };
    const planned = planRung(setup, backend as never);
    const base = { model, weights: model === SHIPPED_RUNG ? ("shipped" as const) : ("random" as const), parameters: planned.parameters.total, method, plannedPeakBytes: planned.totalBytes };
    const progress = (phase: string, rung?: LadderRung) => options.onProgress?.({ index, total: plan.length, model, method, phase, rung });
    let rung: LadderRung;
    const largest = [...planned.components].sort((a, b) => b.bytes - a.bytes)[0]!;
    const inHeap = backendBytes(planned);
    if (budget !== undefined && planned.totalBytes > budget) {
      rung = { ...base, status: "refused", reason: `the planned peak, ${formatBytes(planned.totalBytes)}, is over the budget of ${formatBytes(budget)} (the largest part: ${largest.name}, ${formatBytes(largest.bytes)})`, tiers: tiersFor(planned.totalBytes, "planned") };
    } else if (backend === "wasm" && inHeap > WASM_HEAP_LIMIT_BYTES) {
      rung = { ...base, status: "refused", reason: `${formatBytes(inHeap)} of the planned peak would be WebAssembly heap tensors, past the heap's ${formatBytes(WASM_HEAP_LIMIT_BYTES)} limit`, tiers: tiersFor(planned.totalBytes, "planned") };
    } else {
      progress("starting");
      try {
        const m = await runChild(setup, (phase) => progress(phase), options.signal);
        rung = {
          ...base,
          status: "ok",
          peakBytes: m.peakBytes,
          peakRssBytes: m.peakRssBytes,
          rssGrowthBytes: m.rssGrowthBytes,
          rssParts: m.rssParts,
          plannedErrorPercent: m.plannedErrorPercent,
          bytesByCategory: m.bytesByCategory,
          stepSeconds: m.stepSeconds,
          tokensPerSecond: m.tokensPerSecond,
          generateTokensPerSecond: Object.fromEntries(Object.entries(m.generateTokensPerSecond).map(([k, v]) => [k, v.median])) as LadderRung["generateTokensPerSecond"],
          generateSpread: m.generateTokensPerSecond,
          tiers: tiersFor(m.peakRssBytes, "measured"),
        };
      } catch (error) {
        rung = { ...base, status: "failed", reason: (error as Error).message, tiers: tiersFor(planned.totalBytes, "planned") };
      }
    }
    rungs.push(rung);
    progress(rung.status, rung);
  }
  const planned: PlannedRow[] = ["llama-2-7b", "llama2-70b"].flatMap((model) =>
    methods.map((method) => {
      const tfjs = planRung({ model, method, batch: settings.batch, seqLen: settings.seqLen, r: settings.r, gradientCheckpointing: settings.gradientCheckpointing }, backend as never);
      const cuda = planMemory(model, { method: method === "qlora" ? "qlora" : "lora", baseDtype: method === "lora32" ? "fp32" : "bf16", batch: settings.batch, seqLen: settings.seqLen, r: settings.r });
      return { model, parameters: tfjs.parameters.total, method, tfjsPeakBytes: tfjs.totalBytes, cudaPeakBytes: cuda.totalBytes, tiers: tiersFor(tfjs.totalBytes, "planned") };
    }),
  );
  return {
    machine: { cpu: cpus()[0]?.model ?? "unknown", cores: cpus().length, memoryBytes: totalmem(), node: process.version, backend, products: products.engine, threads: products.threads },
    settings: { ...settings, ...(budget !== undefined ? { budgetBytes: budget } : {}) },
    rungs,
    planned,
    seconds: (performance.now() - started) / 1000,
  };
}
