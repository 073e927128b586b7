// Turning a recipe into a run: the recipe is checked first (nothing loads until it is right), then
// the tokenizer, data and model are loaded, the base is stored as the method says, the adapter is
// made (or read from --init-adapter), lib/train's loop runs, and the output folder gets the PEFT
// adapter, checkpoints, the step log and the HTML report.
import { existsSync, rmSync } from "node:fs";
import { dirname, extname, join, resolve } from "node:path";
import { FileFormatError, InvalidArgumentError, expected } from "../errors.js";
import { writeFileAtomic } from "../io/atomic_write.js";
import { loadCsv, loadDataset, loadJsonl, loadText, loadTokenizedJsonl, looksTokenized, type Example, type LoadDatasetOptions } from "../data/index.js";
import { readDataFile } from "../data/read_file.js";
import { isWeightBasedInit, loadAdapter, readAdapterConfig, saveAdapter, saveBaseModel, toLoraModel, toQloraModel, type LoraModel } from "../lora/index.js";
import { findTokenizerFor, loadModel, loadTokenizer, presetConfig, randomModel, readModelConfig, type LlamaModel } from "../model/index.js";
import { checkTrainingBudget } from "../plan/budget.js";
import type { PlanSetup } from "../plan/planner.js";
import { shapeOfConfig, tfjsBackendKind } from "../train/run_plan.js";
import { AdamW } from "../optim/adamw.js";
import { resolveCheckpoint, readTrainerState } from "../train/checkpoint.js";
import { sequencesFromRows, type BatchTokenizer, type TokenizedDataset } from "../train/batching.js";
import { train, type TrainResult } from "../train/train.js";
import type { StepRecord } from "../train/records.js";
import { trainingReportHtml } from "../viz/training_report.js";
import { applyOverrides, readRecipeFile } from "./recipe_file.js";
import { validateRecipe, type Recipe } from "./recipe_schema.js";
import { progressLine } from "./progress_line.js";
import { StepLog } from "./step_log.js";

/** Options of {@link trainFromRecipe}. */
export interface TrainFromRecipeOptions {
  /** "key.path=value" overrides applied to the recipe before it is checked. */
  set?: readonly string[];
  /** Continue from the output folder's latest checkpoint. */
  resume?: boolean;
  /** Start afresh in an output folder that holds an earlier run's checkpoints (they are removed). */
  overwrite?: boolean;
  /** A PEFT adapter folder to start from (trained further, as PeftModel.from_pretrained(..., is_trainable=True)). */
  initAdapter?: string;
  /** Receives the progress line after each step. */
  onProgress?: (line: string, record: StepRecord) => void;
  /** Relative paths of a recipe given as an object start here (default: the current folder; a file's own folder for a path). */
  baseDir?: string;
  /** Return the trained model instead of disposing it (the caller disposes it). */
  keepModel?: boolean;
  /** Stops the run between steps (it then saves as after Ctrl-C). */
  signal?: AbortSignal;
}

/** Where a run wrote its files. */
export interface RecipeOutputs {
  dir: string;
  adapter: string;
  checkpoints: string;
  log: string;
  report: string;
  /** The base the adapter belongs to, written when its initialisation changed it (PiSSA, LoftQ). */
  base: string;
}

/** What {@link trainFromRecipe} did. */
export interface RecipeRunResult {
  recipe: Recipe;
  result: TrainResult;
  outputs: RecipeOutputs;
  /** The trained model (only with keepModel). */
  model?: LoraModel<LlamaModel>;
}

/** The output folder's layout for a recipe. */
export function recipeOutputs(output: string): RecipeOutputs {
  return { dir: output, adapter: join(output, "adapter"), checkpoints: join(output, "checkpoints"), log: join(output, "log.jsonl"), report: join(output, "report.html"), base: join(output, "base") };
}

/** Reads (a path) or takes (an object) a recipe, applies overrides and checks it; throws with every problem. */
export function resolveRecipe(recipe: string | object, options: Pick<TrainFromRecipeOptions, "set" | "baseDir"> = {}): Recipe {
  const fromFile = typeof recipe === "string";
  const raw = fromFile ? readRecipeFile(recipe) : recipe;
  const withOverrides = options.set?.length ? applyOverrides(raw, options.set) : raw;
  return validateRecipe(withOverrides, { baseDir: fromFile ? dirname(resolve(recipe)) : options.baseDir, source: fromFile ? recipe : "recipe" });
}

/**
 * Fine-tunes as the recipe says (see datasets/recipes/ for an example). Call resolveBackend() first.
 * A stopped run (signal, Ctrl-C) still saves its adapter, checkpoint, log and report.
 */
export async function trainFromRecipe(recipeOrPath: string | object | Recipe, options: TrainFromRecipeOptions = {}): Promise<RecipeRunResult> {
  const where = "trainFromRecipe";
  const recipe = resolveRecipe(recipeOrPath, options);
  const outputs = recipeOutputs(recipe.output);
  // Everything the run will need is checked before anything heavy is loaded.
  const initAdapter = options.initAdapter === undefined ? undefined : resolve(options.initAdapter);
  if (initAdapter !== undefined) readAdapterConfig(initAdapter);
  if (options.resume && options.overwrite) throw new InvalidArgumentError(where, expected("resume or overwrite, not both", "both"));
  const resumeFrom = options.resume ? resumeCheckpoint(outputs.checkpoints) : undefined;
  const earlierRun = !options.resume && existsSync(join(outputs.checkpoints, "latest.json"));
  if (earlierRun && !options.overwrite) {
    throw new FileFormatError("output", expected(`a folder without an earlier run's checkpoints`, `checkpoints in ${outputs.checkpoints}`, "Continue that run with --resume, start afresh with --overwrite, or set another output."));
  }
  const tokenized = isTokenizedData(recipe);
  const tokenizerPath = recipe.model.tokenizer ?? (recipe.model.path ? findTokenizerFor(recipe.model.path) : undefined);
  if (!tokenizerPath && !tokenized) throw new FileFormatError(where, expected("model.tokenizer (none was found beside the model)", "nothing", "Set model.tokenizer, or give pre-tokenized rows."));

  if (recipe.budgetBytes !== undefined) checkRecipeBudget(recipe);

  const tokenizer: BatchTokenizer | undefined = tokenizerPath ? await loadTokenizer(tokenizerPath) : undefined; // pre-tokenized rows need none
  const { trainData, evalData } = loadRecipeData(recipe, tokenized);

  const model = await buildBaseModel(recipe);
  // A fresh run's files must not mix with an earlier run's (resume would pick the newest step of either, and its adapter's shape).
  if (earlierRun) for (const old of [outputs.checkpoints, outputs.adapter]) rmSync(old, { recursive: true, force: true });
  let lora: LoraModel<LlamaModel> | undefined;
  const optimizer = new AdamW({ betas: recipe.optimizer.betas, eps: recipe.optimizer.eps, weightDecay: recipe.optimizer.weightDecay, state: recipe.optimizer.state });
  try {
    if (tokenized) checkTokenIds([trainData, evalData], model.config.vocabSize);
    // A resumed run rebuilds the adapter the stopped run trained (its saved config: --init-adapter's, or the recipe's);
    // the checkpoint then restores its weights.
    // PiSSA and LoftQ are deterministic and change the base: a resumed run makes them again rather than reading the adapter's shape.
    const fromWeight = isWeightBasedInit(recipe.lora.init_lora_weights);
    const resumedShape = resumeFrom && !initAdapter && !fromWeight && existsSync(join(outputs.adapter, "adapter_config.json")) ? outputs.adapter : undefined;
    const startFrom = initAdapter ?? resumedShape;
    const { quantType, doubleQuant, blocksize } = recipe.quant;
    lora = startFrom
      ? loadAdapter(model, startFrom, { trainable: true, seed: recipe.training.seed })
      : fromWeight && recipe.method === "qlora"
        ? toQloraModel(model, recipe.lora, { quantType, doubleQuant, blocksize }, { seed: recipe.training.seed })
        : toLoraModel(model, recipe.lora, { seed: recipe.training.seed });
    lora.setTraining(true);
    const resumedState = resumeFrom ? readTrainerState(resumeFrom) : undefined;
    const earlier = resumedState?.steps ?? [];
    // Each training forward pass draws one dropout mask per layer: continue the sequence where the checkpoint left it.
    if (resumedState) for (const layer of lora.loraLayers().values()) layer.drawCount = resumedState.step * recipe.training.gradientAccumulationSteps;
    const log = new StepLog(outputs.log, earlier);
    let sessionStart: { step: number; elapsedMs: number } | undefined;
    const result = await train(lora, trainData, {
      tokenizer,
      run: recipe.runName,
      steps: recipe.training.steps,
      batchSize: recipe.training.batchSize,
      gradientAccumulationSteps: recipe.training.gradientAccumulationSteps,
      maxLength: recipe.data.seqLen,
      packing: recipe.data.packing,
      shuffle: recipe.data.shuffle,
      seed: recipe.training.seed,
      lr: recipe.optimizer.lr,
      schedule: recipe.schedule.kind,
      warmupRatio: recipe.schedule.warmupRatio,
      warmupSteps: recipe.schedule.warmupSteps,
      maxGradNorm: recipe.training.maxGradNorm,
      gradientCheckpointing: recipe.training.gradientCheckpointing,
      optimizer,
      signal: options.signal,
      checkpoint: { dir: outputs.checkpoints, every: recipe.save.every ?? recipe.training.steps, keep: recipe.save.keep },
      ...(resumeFrom ? { resumeFrom } : {}),
      ...(evalData ? { eval: { examples: evalData, every: recipe.eval.every, batchSize: recipe.eval.batchSize } } : {}),
      callbacks: {
        onStep: (record) => {
          log.add(record);
          // This session's pace starts where a resumed run picked up.
          sessionStart ??= { step: earlier.length ? earlier[earlier.length - 1]!.step : 0, elapsedMs: earlier.length ? earlier[earlier.length - 1]!.elapsedMs : 0 };
          options.onProgress?.(progressLine(record, recipe.training.steps, sessionStart), record);
        },
      },
    });
    lora.setTraining(false);
    // A PiSSA / LoftQ adapter only works on the base its initialisation left: save that base beside it (PEFT's examples do).
    const changedBase = !startFrom && lora.changedBase();
    if (changedBase) await saveBaseModel(lora, outputs.base);
    saveAdapter(lora, outputs.adapter, { baseModelNameOrPath: changedBase ? outputs.base : recipe.model.path ?? recipe.model.preset });
    writeFileAtomic(join(outputs.dir, "recipe.json"), `${JSON.stringify(recipe, null, 2)}\n`);
    writeFileAtomic(outputs.report, trainingReportHtml({ title: recipe.runName, steps: result.steps, evals: result.evals, facts: reportFacts(recipe, result) }));
    if (!options.keepModel) lora.dispose();
    return { recipe, result, outputs, ...(options.keepModel ? { model: lora } : {}) };
  } catch (error) {
    (lora ?? model).dispose();
    throw error;
  } finally {
    optimizer.dispose();
  }
}

function resumeCheckpoint(dir: string): string {
  if (!existsSync(join(dir, "latest.json"))) throw new FileFormatError("--resume", expected(`a checkpoint in ${dir} (written by an earlier run of this recipe)`, "none"));
  return resolveCheckpoint(dir);
}

function isTokenizedData(recipe: Recipe): boolean {
  const { format, train } = recipe.data;
  if (format !== "auto") return format === "tokenized";
  const ext = extname(train).toLowerCase();
  return (ext === ".jsonl" || ext === ".ndjson") && looksTokenized(readDataFile(train, "data.train"));
}

function loadRecipeData(recipe: Recipe, tokenized: boolean): { trainData: Example[] | TokenizedDataset; evalData?: Example[] | TokenizedDataset } {
  const d = recipe.data;
  const read = (file: string): Example[] | TokenizedDataset => {
    if (tokenized) return { sequences: sequencesFromRows(loadTokenizedJsonl(file).rows, d.seqLen) };
    const fields: LoadDatasetOptions = { promptField: d.promptField, responseField: d.responseField, textField: d.textField, ...(d.textSplit ? { split: d.textSplit } : {}) };
    const loader = d.format === "jsonl" ? loadJsonl : d.format === "csv" ? loadCsv : d.format === "text" ? loadText : loadDataset;
    return loader(file, fields).examples;
  };
  const trainData = read(d.train);
  if (d.eval) return { trainData, evalData: read(d.eval) };
  if (d.evalFraction === undefined) return { trainData };
  // The last rows of the file are held out, so the split does not depend on the shuffle.
  const rows = "sequences" in trainData ? trainData.sequences : trainData;
  const held = Math.max(1, Math.round(rows.length * d.evalFraction));
  if (held >= rows.length) throw new InvalidArgumentError("data.eval_fraction", expected(`a fraction that leaves training rows (${rows.length} rows in ${d.train})`, d.evalFraction));
  const cut = rows.length - held;
  if ("sequences" in trainData) return { trainData: { sequences: trainData.sequences.slice(0, cut) }, evalData: { sequences: trainData.sequences.slice(cut) } };
  return { trainData: trainData.slice(0, cut), evalData: trainData.slice(cut) };
}

function checkTokenIds(sets: (Example[] | TokenizedDataset | undefined)[], vocabSize: number): void {
  for (const set of sets) {
    if (!set || !("sequences" in set)) continue;
    set.sequences.forEach((s, row) => {
      const bad = [...s.ids, ...(s.labels ?? [])].find((id) => id >= vocabSize);
      if (bad !== undefined) throw new InvalidArgumentError("data", expected(`token ids below the model's vocabulary size ${vocabSize}`, `${bad} in row ${row + 1}`));
    });
  }
}

/** The model with its base projections stored as the method says (f32, bf16/f16, or 4-bit). */
/**
 * Refuses, before the model loads, a recipe whose run the planner puts over its budget (from the
 * model's config.json or the preset alone), with what would fit.
 */
function checkRecipeBudget(recipe: Recipe): void {
  const config = recipe.model.preset ? presetConfig(recipe.model.preset) : readModelConfig(recipe.model.path!);
  const state = recipe.optimizer.state;
  const kind = typeof state === "string" ? state : state.kind;
  const targets = recipe.lora.target_modules;
  const setup: PlanSetup = {
    method: recipe.method,
    baseDtype: recipe.method === "lora" && recipe.baseDtype !== "f32" ? (recipe.baseDtype === "bf16" ? "bf16" : "fp16") : "fp32",
    runtime: "tfjs",
    backend: tfjsBackendKind(),
    batch: recipe.training.batchSize,
    seqLen: recipe.data.seqLen,
    r: recipe.lora.r ?? 8,
    targetModules: Array.isArray(targets) ? targets.map((t) => t.split(".").at(-1)!) : "all-linear",
    quantType: recipe.quant.quantType,
    doubleQuant: recipe.quant.doubleQuant,
    blocksize: recipe.quant.blocksize,
    gradientCheckpointing: recipe.training.gradientCheckpointing,
    optimizer: { bits: kind === "8bit" || kind === "paged-8bit" ? 8 : 32, paged: kind === "paged" || kind === "paged-8bit" },
  };
  checkTrainingBudget("recipe budget", recipe.budgetBytes!, shapeOfConfig(config, recipe.model.preset ?? recipe.model.path!), setup);
}

async function buildBaseModel(recipe: Recipe): Promise<LlamaModel> {
  const { quantType, doubleQuant, blocksize } = recipe.quant;
  // QLoRA with PiSSA or LoftQ starts from W itself: load float32, toQloraModel quantizes the result.
  const fullPrecisionFirst = recipe.method === "qlora" && isWeightBasedInit(recipe.lora.init_lora_weights);
  if (fullPrecisionFirst) return recipe.model.preset ? randomModel(recipe.model.preset, { storage: "f32", seed: recipe.training.seed }) : loadModel(recipe.model.path!);
  if (recipe.model.preset) {
    const storage = recipe.method === "qlora" ? quantType : recipe.baseDtype;
    return randomModel(recipe.model.preset, { storage, seed: recipe.training.seed, doubleQuant, blocksize });
  }
  // Each projection is stored as it is read, so no float32 copy of the whole model exists.
  return loadModel(recipe.model.path!, recipe.method === "qlora" ? { quantize: { type: quantType, doubleQuant, blocksize } } : { dtype: recipe.baseDtype });
}

function reportFacts(recipe: Recipe, result: TrainResult): Record<string, string | number> {
  const base = recipe.method === "qlora" ? `${recipe.quant.quantType}${recipe.quant.doubleQuant ? " + double quant" : ""}` : recipe.baseDtype;
  return {
    model: recipe.model.path ?? `preset ${recipe.model.preset}`,
    method: `${recipe.method} (base ${base})`,
    data: recipe.data.train,
    "tokens/s": Math.round(result.tokensPerSecond),
    stopped: result.stopped ? `yes, at step ${result.stepsDone}` : "no",
  };
}
