// The fine-tuning loop: AdamW through the Optimizer contract, gradient accumulation, clipping by
// global norm, LR schedules, periodic evaluation, plain records to callbacks, interruption between
// steps (stop(), AbortSignal, SIGINT), atomic checkpoints and exact resume. Defaults follow the
// QLoRA paper's recipe (Dettmers et al. 2023, appendix B): max grad norm 0.3, warmup ratio 0.03,
// constant schedule, no weight decay.
import * as tf from "@tensorflow/tfjs-core";
import { MessageChannel } from "node:worker_threads";
import { InvalidArgumentError, UnavailableError, expected } from "../errors.js";
import { requirePositiveInteger } from "../validate.js";
import type { Example } from "../data/examples.js";
import type { MemoryLedger } from "../memory/ledger.js";
import { AdamW, type AdamWOptions } from "../optim/adamw.js";
import type { NamedVariable, Optimizer } from "../optim/optimizer.js";
import { lrSchedule, type ScheduleKind } from "../optim/schedule.js";
import { EpochSampler, isTokenizedDataset, makeBatch, packExamples, tokenizeExamples, type Batch, type BatchTokenizer, type TokenizedDataset, type TokenSequence } from "./batching.js";
import { loadCheckpoint, resolveCheckpoint, saveCheckpoint, type TrainerState } from "./checkpoint.js";
import { evaluateLoss, type MetricFn } from "./evaluate.js";
import type { GeneratingModel, TrainableModel } from "./model_contract.js";
import type { EvalRecord, StepRecord } from "./records.js";
import { raisePeak, stepMemory, type CategoryTotals } from "./step_memory.js";
import { checkTrainingBudget } from "../plan/budget.js";
import { runPlanFor } from "./run_plan.js";
import { trainStep, type StepSetup } from "./train_step.js";

/** Receives records as the run goes (lib/viz's liveLossChart is one). */
export interface TrainCallbacks {
  onStep?(record: StepRecord): void | Promise<void>;
  onEval?(record: EvalRecord): void | Promise<void>;
  finish?(result: TrainResult): void | Promise<void>;
}

/** Held-out evaluation during a run. */
export interface EvalOptions {
  /** Held-out examples, or pre-tokenized rows ({ sequences }). */
  examples: readonly Example[] | TokenizedDataset;
  /** Evaluate every N steps (default: only before and after the run). */
  every?: number;
  /** Evaluate before the first step (default true). */
  atStart?: boolean;
  batchSize?: number;
  /** A task metric (e.g. exactMatch(...)) computed at each evaluation. */
  metric?: MetricFn;
}

/** Where and how often checkpoints are written. */
export interface CheckpointOptions {
  dir: string;
  /** Every N optimizer steps (and when the run is stopped). */
  every: number;
  /** Checkpoints to keep (default 2). */
  keep?: number;
}

/** Options for {@link train}. */
export interface TrainOptions {
  /** Tokenizes examples; optional for pre-tokenized rows ({ sequences }), which are padded with id 0 (padding is never counted). */
  tokenizer?: BatchTokenizer;
  /** Optimizer steps to reach (a resumed run continues to the same total). */
  steps: number;
  /** Name on every record (default "run"). */
  run?: string;
  /** Sequences per micro-batch (default 8). */
  batchSize?: number;
  /** Micro-batches per optimizer step (default 1). */
  gradientAccumulationSteps?: number;
  /** Tokens per sequence at most (default 128). */
  maxLength?: number;
  /** Pack examples end to end into full windows (pretraining; default false: one example per row, padded). */
  packing?: boolean;
  /** Peak learning rate (default 2e-4, the QLoRA recipe for 7B-13B; small models like 1e-3). */
  lr?: number;
  /** Default "constant". */
  schedule?: ScheduleKind;
  /** Warmup as a fraction of steps (default 0.03). */
  warmupRatio?: number;
  /** Warmup steps; overrides warmupRatio. */
  warmupSteps?: number;
  /** Clip the global gradient norm to this (default 0.3); null disables clipping. */
  maxGradNorm?: number | null;
  /** Decoupled weight decay of the default AdamW (default 0). */
  weightDecay?: number;
  /** State form of the default AdamW: "resident" (default), "paged", "8bit", "paged-8bit" or options. */
  optimizerState?: AdamWOptions["state"];
  /** Use this optimizer instead of a new AdamW (it is not disposed by train). */
  optimizer?: Optimizer;
  /** Seeds the data order (default 0). */
  seed?: number;
  /** Draw each epoch in a seeded random order (default true); false: the data's own order. */
  shuffle?: boolean;
  eval?: EvalOptions;
  callbacks?: TrainCallbacks | readonly TrainCallbacks[];
  /** Stops the run between steps when aborted. */
  signal?: AbortSignal;
  /** Stop between steps on Ctrl-C / kernel interrupt (default true). */
  stopOnSigint?: boolean;
  checkpoint?: CheckpointOptions;
  /** A checkpoint folder (or a checkpoint dir with latest.json) to continue from. */
  resumeFrom?: string;
  /**
   * Gradient checkpointing (default false): the backward recomputes each decoder block's activations
   * from its input instead of keeping them, as QLoRA recipes train; same gradients, a lower peak.
   */
  gradientCheckpointing?: boolean;
  /** Attach resident bytes by category to each step record (default true). */
  recordMemory?: boolean;
  /**
   * A ledger to account memory with: the model and optimizer are tracked in it, each micro-batch's
   * forward+backward is measured under tf.profile (peak transients as "activations"), and step
   * records carry the step's peak by category. Without one, activations are estimated from
   * tf.memory() at the end of the forward pass (cheaper, no profiling).
   */
  ledger?: MemoryLedger;
  /**
   * Memory the run may use, in bytes or as text ("8GiB", "512MiB", "8GB"): before the optimizer or any
   * batch is allocated, the planner's estimate for this model, batch, sequence length and optimizer
   * state on the active backend is checked against it, and a run over it is refused (OverBudgetError)
   * with the estimate by category and the nearest changes that would fit.
   */
  budget?: number | string;
}

/** What a run did. */
export interface TrainResult {
  run: string;
  /** Every step record (a resumed run includes the ones before the checkpoint). */
  steps: StepRecord[];
  evals: EvalRecord[];
  /** Optimizer steps completed. */
  stepsDone: number;
  /** True when stop(), the signal or SIGINT ended the run early. */
  stopped: boolean;
  /** Mean training throughput of this session (real tokens per second). */
  tokensPerSecond: number;
  seconds: number;
  /** Peak resident bytes per category seen at step ends. */
  peakMemory: CategoryTotals;
  /** The last checkpoint written, if any. */
  checkpoint?: string;
}

/** A running training job: await it for the result, or call stop() to end it after the current step. */
export interface TrainRun extends Promise<TrainResult> {
  stop(): void;
}

/**
 * Trains `model`'s trainable variables on `dataset`: prompt/response or text examples, or
 * pre-tokenized rows ({ sequences }, used as they are: no packing, no re-tokenization).
 * Returns a promise with a stop() method; the model stays usable after a stop.
 */
export function train(model: TrainableModel, dataset: readonly Example[] | TokenizedDataset, options: TrainOptions): TrainRun {
  const controller = new AbortController();
  const promise = runTraining(model, dataset, options, controller.signal) as TrainRun;
  promise.stop = () => controller.abort();
  return promise;
}

/**
 * Yields to the event loop through a MessageChannel round trip rather than a timer: a notebook
 * kernel may make an interrupted cell's timers inert, and the loop must still reach its stop
 * check, write its checkpoint and release its optimizer.
 */
function macrotask(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.once("message", () => {
      channel.port1.close();
      resolve();
    });
    channel.port2.postMessage(null);
  });
}

function validate(options: TrainOptions, dataset: readonly Example[] | TokenizedDataset): void {
  const fn = "train";
  requirePositiveInteger(fn, "steps", options.steps);
  for (const [what, v] of [["batchSize", options.batchSize], ["gradientAccumulationSteps", options.gradientAccumulationSteps], ["eval.every", options.eval?.every], ["checkpoint.every", options.checkpoint?.every]] as const) {
    if (v !== undefined) requirePositiveInteger(fn, what, v);
  }
  if (options.lr !== undefined && !(Number.isFinite(options.lr) && options.lr > 0)) throw new InvalidArgumentError(fn, expected("lr > 0", options.lr));
  if (options.gradientCheckpointing !== undefined && typeof options.gradientCheckpointing !== "boolean") throw new InvalidArgumentError(fn, expected("gradientCheckpointing true or false", JSON.stringify(options.gradientCheckpointing)));
  if (options.maxGradNorm != null && !(options.maxGradNorm > 0)) throw new InvalidArgumentError(fn, expected("maxGradNorm > 0 or null", options.maxGradNorm));
  if (isTokenizedDataset(dataset)) {
    if (dataset.sequences.length === 0) throw new InvalidArgumentError(fn, expected("at least one pre-tokenized row", 0));
  } else if (!Array.isArray(dataset) || dataset.length === 0) throw new InvalidArgumentError(fn, expected("a non-empty array of examples", dataset, "Load data with loadDataset(path) or loadTask(name).train."));
  const needsTokenizer = !isTokenizedDataset(dataset) || (options.eval !== undefined && !isTokenizedDataset(options.eval.examples));
  if (needsTokenizer && !options.tokenizer) throw new InvalidArgumentError(fn, expected("options.tokenizer", "undefined", "Pass the model's tokenizer (loadTokenizer(path)); only pre-tokenized rows ({ sequences }) need none."));
  if (tf.getGradient("Multiply") === undefined) throw new UnavailableError(fn, expected("TF.js's gradients to be registered", "none", "Call resolveBackend() (or installRuntime() where the backend is set up by hand) once before training."));
}

async function runTraining(model: TrainableModel, dataset: readonly Example[] | TokenizedDataset, options: TrainOptions, stopSignal: AbortSignal): Promise<TrainResult> {
  validate(options, dataset);
  if (options.budget !== undefined) {
    const { shape, setup } = runPlanFor(model, options);
    checkTrainingBudget("train", options.budget, shape, setup); // refuses before anything below allocates
  }
  const run = options.run ?? "run";
  const totalSteps = options.steps;
  const batchSize = options.batchSize ?? 8;
  const accumulation = options.gradientAccumulationSteps ?? 1;
  const maxLength = options.maxLength ?? 128;
  const seed = options.seed ?? 0;
  const maxGradNorm = options.maxGradNorm === undefined ? 0.3 : options.maxGradNorm;
  const schedule = lrSchedule({ kind: options.schedule ?? "constant", lr: options.lr ?? 2e-4, totalSteps, warmupRatio: options.warmupRatio ?? 0.03, warmupSteps: options.warmupSteps });
  const callbacks = options.callbacks === undefined ? [] : Array.isArray(options.callbacks) ? (options.callbacks as TrainCallbacks[]) : [options.callbacks as TrainCallbacks];
  const recordMemory = options.recordMemory ?? true;

  const params: NamedVariable[] = model.trainableVariables();
  if (params.length === 0) throw new InvalidArgumentError("train", expected("a model with trainable variables", "none", "Wrap it with toLoraModel/toQloraModel, or load it with trainable: \"all\"."));
  const ownsOptimizer = options.optimizer === undefined;
  const optimizer = options.optimizer ?? new AdamW({ weightDecay: options.weightDecay ?? 0, state: options.optimizerState });

  const ledger = options.ledger;
  const stepSetup: StepSetup = { model, params, optimizer, maxGradNorm, ledger, gradientCheckpointing: options.gradientCheckpointing ?? false };
  if (ledger) ledger.track("model", { memoryItems: () => model.memoryItems?.() ?? [] }).track("optimizer", optimizer);
  const sequences: readonly TokenSequence[] = isTokenizedDataset(dataset) ? dataset.sequences : options.packing ? packExamples(dataset, options.tokenizer!, maxLength) : tokenizeExamples(dataset, options.tokenizer!, maxLength);
  const padId = options.tokenizer?.eosId ?? 0;
  const sampler = new EpochSampler(sequences.length, seed, undefined, options.shuffle ?? true);
  const steps: StepRecord[] = [];
  const evals: EvalRecord[] = [];
  let step = 0;
  if (options.resumeFrom !== undefined) {
    const state = loadCheckpoint(resolveCheckpoint(options.resumeFrom), params, optimizer);
    step = state.step;
    sampler.state = { ...state.sampler };
    steps.push(...state.steps);
    evals.push(...state.evals);
  }

  let interrupted = false;
  const onAbort = () => (interrupted = true);
  const onSigint = () => (interrupted = true);
  stopSignal.addEventListener("abort", onAbort);
  options.signal?.addEventListener("abort", onAbort);
  if (options.signal?.aborted) interrupted = true;
  if (options.stopOnSigint ?? true) process.on("SIGINT", onSigint);

  const started = performance.now();
  const elapsedBase = steps.length ? steps[steps.length - 1]!.elapsedMs : 0;
  const elapsed = () => elapsedBase + performance.now() - started;
  const peakMemory: CategoryTotals = {};
  let sessionTokens = 0;
  let sessionTrainMs = 0;
  let lastCheckpoint: string | undefined;
  let lastCheckpointStep = -1;

  const evaluate = async () => {
    const ev = options.eval!;
    // Evaluation sees the model without dropout, as model.eval() gives it in PyTorch.
    const dropoutWasOn = model.training === true;
    if (dropoutWasOn) model.setTraining?.(false);
    let lossResult: Awaited<ReturnType<typeof evaluateLoss>>;
    let metric: Awaited<ReturnType<NonNullable<EvalOptions["metric"]>>> | undefined;
    try {
      lossResult = await evaluateLoss(model, ev.examples, { tokenizer: options.tokenizer, batchSize: ev.batchSize, maxLength });
      metric = ev.metric ? await ev.metric(model as GeneratingModel) : undefined;
    } finally {
      if (dropoutWasOn) model.setTraining?.(true);
    }
    const record: EvalRecord = { run, step, loss: lossResult.loss, perplexity: lossResult.perplexity, elapsedMs: elapsed(), ...(metric ? { metric: metric.value, metricName: metric.name } : {}) };
    evals.push(record);
    for (const c of callbacks) await c.onEval?.(record);
  };
  const checkpointNow = async () => {
    const ck = options.checkpoint!;
    const state: TrainerState = { format: "qlora-lab-checkpoint", version: 1, run, step, seed, sampler: { ...sampler.state }, totalSteps, optimizer: { kind: "", stepCount: optimizer.stepCount }, steps, evals };
    lastCheckpoint = await saveCheckpoint(ck.dir, params, optimizer, state, ck.keep ?? 2);
    lastCheckpointStep = step;
  };

  try {
    if (options.eval && (options.eval.atStart ?? true) && step === 0 && !interrupted) await evaluate();
    while (step < totalSteps && !interrupted) {
      const t0 = performance.now();
      const lr = schedule(step);
      const micro: Batch[] = [];
      for (let k = 0; k < accumulation; k++) micro.push(makeBatch(sampler.next(batchSize).map((i) => sequences[i]!), padId));
      const tokens = micro.reduce((s, b) => s + b.tokens, 0);
      const outcome = await trainStep(stepSetup, micro, lr, step);
      step++;
      const ms = performance.now() - t0;
      sessionTokens += tokens;
      sessionTrainMs += ms;
      const record: StepRecord = { run, step, loss: outcome.loss, lr, gradNorm: outcome.gradNorm, tokensPerSecond: (tokens / ms) * 1000, elapsedMs: elapsed() };
      if (recordMemory) {
        record.memory = stepMemory([model, optimizer], outcome, step, ledger);
        raisePeak(peakMemory, record.memory);
      }
      steps.push(record);
      for (const c of callbacks) await c.onStep?.(record);
      if (options.eval?.every && step % options.eval.every === 0 && step < totalSteps) await evaluate();
      if (options.checkpoint && step % options.checkpoint.every === 0) await checkpointNow();
      // A macrotask between steps lets an interrupt (SIGINT, a kernel message, stop()) land.
      await macrotask();
    }
    if (options.eval && step === totalSteps && !interrupted && evals[evals.length - 1]?.step !== step) await evaluate();
    // A stopped run leaves a checkpoint of exactly where it stopped, so resume continues from there.
    if (options.checkpoint && interrupted && lastCheckpointStep !== step) await checkpointNow();
  } finally {
    stopSignal.removeEventListener("abort", onAbort);
    options.signal?.removeEventListener("abort", onAbort);
    process.off("SIGINT", onSigint);
    if (ledger) ledger.untrack("model").untrack("optimizer");
    if (ownsOptimizer) optimizer.dispose();
  }
  const result: TrainResult = {
    run,
    steps,
    evals,
    stepsDone: step,
    stopped: interrupted && step < totalSteps,
    tokensPerSecond: sessionTrainMs > 0 ? (sessionTokens / sessionTrainMs) * 1000 : 0,
    seconds: (performance.now() - started) / 1000,
    peakMemory,
    ...(lastCheckpoint ? { checkpoint: lastCheckpoint } : {}),
  };
  for (const c of callbacks) await c.finish?.(result);
  return result;
}
