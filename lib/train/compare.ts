// LoRA vs QLoRA, measured side by side: the same base, task, seed and recipe, once with a 16-bit
// base (LoRA; float32 on request) and once with an NF4 + double-quantized base (QLoRA, Dettmers et al. 2023 section 3);
// reports memory by category, bits per base parameter, eval loss and task metric before and after,
// training and inference throughput (adapter separate and merged).
import { InvalidArgumentError, expected } from "../errors.js";
import { loadTask, shippedModelPath, type Task } from "../data/shipped.js";
import { expectedWeightShapes, findTokenizerFor, loadModel, loadTokenizer, readModelConfig, type LlamaModel, type Tokenizer } from "../model/index.js";
import { checkTrainingBudget } from "../plan/budget.js";
import type { PlanSetup } from "../plan/planner.js";
import { shapeOfConfig, tfjsBackendKind } from "./run_plan.js";
import { toLora16Model, toLoraModel, toQloraModel, mergeAndUnload, saveAdapter, type LoraModel, type LoraConfig, type QloraQuantOptions } from "../lora/index.js";
import type { TrainOptions } from "./train.js";
import { MemoryLedger } from "../memory/ledger.js";
import type { MemoryCategory } from "../memory/types.js";
import { evaluateLoss, exactMatchAccuracy } from "./evaluate.js";
import type { EvalRecord, StepRecord } from "./records.js";
import { train, type TrainCallbacks } from "./train.js";
import { formatBytes } from "../format.js";
import type { ScheduleKind } from "../optim/schedule.js";

/** Which base a run fine-tunes. */
export type BaseMode = "lora" | "qlora";

/** The LoRA run's base storage. */
export type LoraBaseDtype = "bf16" | "f16" | "f32";
const LORA_BASES: readonly LoraBaseDtype[] = ["bf16", "f16", "f32"];
const PRECISION_NAMES: Record<LoraBaseDtype, string> = { bf16: "bfloat16", f16: "float16", f32: "float32" };

/** Options for {@link compareLoraQlora}. */
export interface CompareOptions {
  /** A shipped task name or a task folder (default "home"). */
  task?: string | Task;
  /** Base model folder (default: the shipped base model). */
  model?: string;
  /** Tokenizer path (default: the one beside the model). */
  tokenizer?: string;
  /** Optimizer steps per run (default 600: enough for both runs to reach the shipped task's plateau). */
  steps?: number;
  /** Seeds LoRA init and data order (default 0). */
  seed?: number;
  /** Sequences per step (default 16). */
  batchSize?: number;
  /** Peak learning rate (default 5e-3). */
  lr?: number;
  /** LR curve after the warmup (default "constant", as the QLoRA paper's recipe). */
  schedule?: ScheduleKind;
  /** Warmup as a fraction of the steps (default 0.1). */
  warmupRatio?: number;
  /** LoRA config (default r 8, alpha 16, every projection). */
  lora?: Partial<LoraConfig>;
  /** Eval examples for the loss (default 200: a shipped task's whole eval split) and for the metric (default 60). */
  evalExamples?: number;
  metricExamples?: number;
  /** Also evaluate every N steps (default: a fifth of the steps); the last interval tells whether the runs have converged. */
  evalEvery?: number;
  /** Tokens generated for the inference speed figures (default 48). */
  inferenceTokens?: number;
  /** Which runs, in order (default both). */
  modes?: readonly BaseMode[];
  /** Receives the step/eval records of both runs (run names "LoRA" and "QLoRA"). */
  callbacks?: TrainCallbacks | readonly TrainCallbacks[];
  /** Progress lines (e.g. console.log). */
  log?: (line: string) => void;
  signal?: AbortSignal;
  /**
   * The LoRA run's frozen base: "bf16" (default, the article's 16-bit LoRA baseline: PEFT with
   * torch_dtype=bfloat16), "f16", or "f32" (float32, labelled as such). Computed in float32 either way.
   */
  loraBase?: LoraBaseDtype;
  /** The QLoRA run's quantization (default NF4, double quantization, blocksize 64: the paper's). */
  qloraQuant?: Pick<QloraQuantOptions, "quantType" | "doubleQuant" | "blocksize">;
  /** AdamW's state in both runs (default resident 32-bit; "paged" with a budget keeps part of it off the backend). */
  optimizerState?: TrainOptions["optimizerState"];
  /** Gradient checkpointing in both runs: each decoder block recomputed in the backward (default false). */
  gradientCheckpointing?: boolean;
  /** Save each run's adapter to `${adapterDir}/<lora|qlora>`. */
  adapterDir?: string;
  /**
   * Memory each run may use, in bytes or as text ("8GiB"): both runs' plans are checked before either
   * loads the model, and a run over it is refused (OverBudgetError) with what would fit.
   */
  budget?: number | string;
}

/** One run's measurements. */
export interface CompareRun {
  name: "LoRA" | "QLoRA";
  mode: BaseMode;
  basePrecision: string;
  /** Resident bytes of the frozen base (every weight: linears, embedding, norms). */
  baseBytes: number;
  /** Base parameters (a 4-bit weight counts out*in). */
  baseParameters: number;
  /** 8 * baseBytes / baseParameters. */
  bitsPerBaseParameter: number;
  /** Resident bytes of the projection weights alone (what QLoRA quantizes). */
  linearBaseBytes: number;
  linearParameters: number;
  bitsPerLinearParameter: number;
  trainableParameters: number;
  /** Peak resident bytes per category during training. */
  peakMemory: Partial<Record<MemoryCategory, number>>;
  evalLossBefore: number;
  evalLossAfter: number;
  /** 100 * (last eval loss - the eval loss one interval before) / the latter: near 0 once the run has converged. */
  evalLossLastChangePercent?: number;
  metricName: string;
  metricBefore: number;
  metricAfter: number;
  trainTokensPerSecond: number;
  trainSeconds: number;
  inferenceTokensPerSecond: { separate: number; merged: number };
  mergeStrategy: string;
  steps: StepRecord[];
  evals: EvalRecord[];
  stopped: boolean;
}

/** The whole comparison. */
export interface CompareReport {
  task: string;
  model: string;
  steps: number;
  seed: number;
  /** Whether both runs recomputed each block in the backward. */
  gradientCheckpointing: boolean;
  runs: CompareRun[];
  /** QLoRA's task metric after training as a percentage of LoRA's. */
  qloraQualityPercent?: number;
  /** 100 * (QLoRA eval loss - LoRA eval loss) / LoRA eval loss. */
  evalLossGapPercent?: number;
  /** The same gap before training: what quantizing the base alone costs on the task. */
  evalLossGapBeforePercent?: number;
  /**
   * True when both runs' eval loss moved less than {@link CONVERGED_PERCENT} % over their last eval
   * interval. Before that, which run is ahead depends on where each is on its learning curve more
   * than on the base precision, so the gap says little about quantization.
   */
  converged?: boolean;
  /** QLoRA's projection weights' bytes as a percentage of LoRA's. */
  linearBaseBytesPercent?: number;
  /** QLoRA's whole base as a percentage of LoRA's. */
  baseBytesPercent?: number;
}

/** Largest change of eval loss over the last eval interval (percent) for which a run counts as converged. */
export const CONVERGED_PERCENT = 1;

/** Fine-tunes the same base on the same task with the same seed as LoRA and as QLoRA, and measures both. */
export async function compareLoraQlora(options: CompareOptions = {}): Promise<CompareReport> {
  const modelPath = options.model ?? shippedModelPath();
  const modes = options.modes ?? ["lora", "qlora"];
  if (options.loraBase !== undefined && !LORA_BASES.includes(options.loraBase)) throw new InvalidArgumentError("compareLoraQlora", expected(`loraBase ${LORA_BASES.map((b) => `"${b}"`).join(", ")}`, JSON.stringify(options.loraBase)));
  if (options.budget !== undefined) checkCompareBudget(modelPath, modes, options.budget, options);
  const tokenizerPath = options.tokenizer ?? findTokenizerFor(modelPath);
  if (!tokenizerPath) throw new InvalidArgumentError("compareLoraQlora", expected(`a tokenizer beside ${modelPath}`, "none", "Pass tokenizer: PATH."));
  const tokenizer = await loadTokenizer(tokenizerPath);
  const task = typeof options.task === "object" ? options.task : loadTask(options.task ?? "home");
  const steps = options.steps ?? 600;
  const seed = options.seed ?? 0;
  const log = options.log ?? (() => {});
  const runs: CompareRun[] = [];
  for (const mode of modes) {
    if (options.signal?.aborted) break;
    runs.push(await runOne(mode, modelPath, tokenizer, task, steps, seed, options, log));
  }
  const lora = runs.find((r) => r.mode === "lora");
  const qlora = runs.find((r) => r.mode === "qlora");
  const report: CompareReport = { task: task.name, model: modelPath, steps, seed, gradientCheckpointing: options.gradientCheckpointing ?? false, runs };
  if (lora && qlora) {
    if (lora.metricAfter > 0) report.qloraQualityPercent = (100 * qlora.metricAfter) / lora.metricAfter;
    report.evalLossGapPercent = (100 * (qlora.evalLossAfter - lora.evalLossAfter)) / lora.evalLossAfter;
    report.evalLossGapBeforePercent = (100 * (qlora.evalLossBefore - lora.evalLossBefore)) / lora.evalLossBefore;
    if (lora.evalLossLastChangePercent !== undefined && qlora.evalLossLastChangePercent !== undefined) {
      report.converged = Math.abs(lora.evalLossLastChangePercent) < CONVERGED_PERCENT && Math.abs(qlora.evalLossLastChangePercent) < CONVERGED_PERCENT;
    }
    report.linearBaseBytesPercent = (100 * qlora.linearBaseBytes) / lora.linearBaseBytes;
    report.baseBytesPercent = (100 * qlora.baseBytes) / lora.baseBytes;
  }
  return report;
}

/** LoRA's r, alpha and target modules in compare's runs unless options.lora says otherwise. */
const COMPARE_LORA: Partial<LoraConfig> = { r: 8, lora_alpha: 16, target_modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] };

/** Refuses, before anything loads, a run whose plan (this model, batch and LoRA config, the active backend) is over `budget`. */
function checkCompareBudget(modelPath: string, modes: readonly BaseMode[], budget: number | string, options: CompareOptions): void {
  const shape = shapeOfConfig(readModelConfig(modelPath), modelPath);
  const lora = { ...COMPARE_LORA, ...options.lora };
  const targets = Array.isArray(lora.target_modules) ? lora.target_modules.map((t) => t.split(".").at(-1)!) : "all-linear";
  for (const mode of modes) {
    const loraBase = options.loraBase ?? "bf16";
    const baseDtype = mode === "qlora" || loraBase === "f32" ? "fp32" : loraBase === "bf16" ? "bf16" : "fp16";
    const setup: PlanSetup = { method: mode, baseDtype, runtime: "tfjs", backend: tfjsBackendKind(), batch: options.batchSize ?? 16, seqLen: 128, r: lora.r ?? 8, targetModules: targets, gradientCheckpointing: options.gradientCheckpointing };
    checkTrainingBudget(`compareLoraQlora (${mode === "lora" ? "LoRA" : "QLoRA"} run)`, budget, shape, setup);
  }
}

async function runOne(mode: BaseMode, modelPath: string, tokenizer: Tokenizer, task: Task, steps: number, seed: number, options: CompareOptions, log: (line: string) => void): Promise<CompareRun> {
  const name = mode === "lora" ? "LoRA" : "QLoRA";
  const base: LlamaModel = await loadModel(modelPath);
  const loraConfig: Partial<LoraConfig> = { ...COMPARE_LORA, ...options.lora };
  const loraBase = options.loraBase ?? "bf16";
  const quant = { quantType: "nf4" as const, doubleQuant: true, blocksize: 64, ...options.qloraQuant };
  const model: LoraModel<LlamaModel> =
    mode === "qlora"
      ? toQloraModel(base, loraConfig, quant, { seed })
      : loraBase === "f32"
        ? toLoraModel(base, loraConfig, { seed })
        : toLora16Model(base, loraConfig, loraBase, { seed });
  try {
    const isBase = (category: string) => category === "base_dense" || category === "base_16bit" || category === "base_packed" || category === "quant_constants";
    const baseItems = base.memoryItems().filter((i) => isBase(i.category));
    const baseBytes = baseItems.reduce((s, i) => s + i.bytes, 0);
    const linearPaths = [...base.linears().keys()];
    const isLinear = (owner?: string) => owner !== undefined && linearPaths.some((p) => owner === p || owner.startsWith(`${p}.`));
    const linearBaseBytes = model.memoryItems().filter((i) => isBase(i.category) && isLinear(i.owner)).reduce((s, i) => s + i.bytes, 0);
    const linearParameters = linearPaths.reduce((s, p) => s + base.linears().get(p)!.inFeatures * base.linears().get(p)!.outFeatures, 0);
    const baseParameters = [...expectedWeightShapes(base.config).values()].reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
    const trainableParameters = model.trainableVariables().reduce((s, p) => s + p.variable.size, 0);
    const evalSet = task.eval.slice(0, options.evalExamples ?? 200);
    const metricSet = task.eval.slice(0, options.metricExamples ?? 60);
    const metric = async (m: LoraModel<LlamaModel>) => ({ name: "exact_match", value: await exactMatchAccuracy(m as never, metricSet, { tokenizer, maxNewTokens: task.metric.maxNewTokens }) });
    log(`${name}: base ${formatBytes(baseBytes)} (${((8 * baseBytes) / baseParameters).toFixed(2)} bits/param), training ${trainableParameters} LoRA parameters for ${steps} steps on "${task.name}"`);
    const callbacks = options.callbacks === undefined ? [] : Array.isArray(options.callbacks) ? [...(options.callbacks as TrainCallbacks[])] : [options.callbacks as TrainCallbacks];
    const result = await train(model as never, task.train, {
      run: name,
      tokenizer,
      steps,
      seed,
      batchSize: options.batchSize ?? 16,
      lr: options.lr ?? 5e-3,
      schedule: options.schedule ?? "constant",
      warmupRatio: options.warmupRatio ?? 0.1,
      maxGradNorm: 0.3,
      gradientCheckpointing: options.gradientCheckpointing ?? false,
      optimizerState: options.optimizerState,
      signal: options.signal,
      ledger: new MemoryLedger(),
      eval: { examples: evalSet, metric: metric as never, every: options.evalEvery ?? Math.max(1, Math.round(steps / 5)), atStart: true },
      callbacks: [
        ...callbacks,
        {
          onEval: (r) => log(`${name} eval @${r.step}: loss ${r.loss.toFixed(4)}, ${r.metricName} ${((r.metric ?? 0) * 100).toFixed(1)} %`),
          onStep: (r) => {
            if (r.step % 50 === 0) log(`${name} step ${r.step}/${steps}: loss ${r.loss.toFixed(4)}, ${Math.round(r.tokensPerSecond)} tok/s`);
          },
        },
      ],
    });
    const first = result.evals[0]!;
    const last = result.evals[result.evals.length - 1]!;
    const previous = result.evals.length > 2 ? result.evals[result.evals.length - 2]! : undefined; // not the before-training eval
    if (options.adapterDir) saveAdapter(model as never, `${options.adapterDir}/${mode}`);
    const inferenceTokens = options.inferenceTokens ?? 48;
    const prompt = [tokenizer.bosId, ...tokenizer.encode(task.eval[0]!.prompt, { bos: false })];
    const separate = await inferenceSpeed((n) => model.generate(prompt, { maxNewTokens: n, temperature: 0, eosTokenId: null }), inferenceTokens);
    const strategy = mode === "lora" && loraBase === "f32" ? "float32" : "requantize"; // a 16-bit base is merged into its own 16 bits, a 4-bit one requantized
    mergeAndUnload(model as never, { strategy });
    const merged = await inferenceSpeed((n) => base.generate(prompt, { maxNewTokens: n, temperature: 0, eosTokenId: null }), inferenceTokens);
    const peakMemory = { ...result.peakMemory };
    const run: CompareRun = {
      name,
      mode,
      basePrecision: mode === "lora" ? PRECISION_NAMES[loraBase] : `${quant.quantType.toUpperCase()}${quant.doubleQuant ? " + double quant" : ""} (blocksize ${quant.blocksize})`,
      baseBytes,
      baseParameters,
      bitsPerBaseParameter: (8 * baseBytes) / baseParameters,
      linearBaseBytes,
      linearParameters,
      bitsPerLinearParameter: (8 * linearBaseBytes) / linearParameters,
      trainableParameters,
      peakMemory,
      evalLossBefore: first.loss,
      evalLossAfter: last.loss,
      evalLossLastChangePercent: previous ? (100 * (last.loss - previous.loss)) / previous.loss : undefined,
      metricName: last.metricName ?? "exact_match",
      metricBefore: first.metric ?? 0,
      metricAfter: last.metric ?? 0,
      trainTokensPerSecond: result.tokensPerSecond,
      trainSeconds: result.seconds,
      inferenceTokensPerSecond: { separate, merged },
      mergeStrategy: strategy,
      steps: result.steps,
      evals: result.evals,
      stopped: result.stopped,
    };
    return run;
  } finally {
    model.dispose();
    base.dispose();
  }
}

async function inferenceSpeed(generate: (maxNewTokens: number) => Promise<{ ids: number[] }>, tokens: number): Promise<number> {
  await generate(2); // warm up kernels
  const started = performance.now();
  const result = await generate(tokens);
  return (result.ids.length / (performance.now() - started)) * 1000;
}
