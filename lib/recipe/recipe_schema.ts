// The training recipe: its keys, their types and defaults, and the check that reads a parsed recipe
// (YAML or JSON) into a resolved Recipe. Every problem is collected and reported at once, each by
// its key path, before any model or data is loaded.
import { existsSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { InvalidArgumentError, describeValue, expected } from "../errors.js";
import { validateLoraConfig, type LoraConfig } from "../lora/config.js";
import { MODEL_PRESETS, PRESET_ALIASES } from "../model/presets.js";
import type { AdamWOptions } from "../optim/adamw.js";
import type { ScheduleKind } from "../optim/schedule.js";
import { budgetBytes as parseBudget } from "../memory/byte_size.js";

/** A recipe with every default filled in and every path absolute. */
export interface Recipe {
  model: { path?: string; preset?: string; tokenizer?: string };
  method: "lora" | "qlora";
  /** Storage of the frozen base linears (method lora). */
  baseDtype: "f32" | "bf16" | "f16";
  /** 4-bit settings (method qlora). */
  quant: { quantType: "nf4" | "fp4"; doubleQuant: boolean; blocksize: number };
  /** PEFT LoraConfig fields as written (validated); unused when the run starts from --init-adapter. */
  lora: Partial<LoraConfig>;
  data: {
    train: string;
    eval?: string;
    /** Share of the train file held out for evaluation when no eval file is given. */
    evalFraction?: number;
    format: "auto" | "jsonl" | "csv" | "text" | "tokenized";
    promptField?: string;
    responseField?: string;
    textField?: string;
    textSplit?: "line" | "paragraph" | "file";
    seqLen: number;
    packing: boolean;
    shuffle: boolean;
  };
  training: { steps: number; batchSize: number; gradientAccumulationSteps: number; maxGradNorm: number | null; gradientCheckpointing: boolean; seed: number };
  optimizer: { lr: number; betas: [number, number]; eps: number; weightDecay: number; state: NonNullable<AdamWOptions["state"]> };
  schedule: { kind: ScheduleKind; warmupRatio: number; warmupSteps?: number };
  eval: { every?: number; batchSize: number };
  save: { every?: number; keep: number };
  output: string;
  runName: string;
  /** Memory the run may use, in bytes: the plan is checked against it before the model loads. */
  budgetBytes?: number;
}

/** The keys each section takes, for the unknown-key check and its message. */
export const RECIPE_KEYS = {
  "": ["model", "method", "base_dtype", "quant", "lora", "data", "training", "optimizer", "schedule", "eval", "save", "output", "run_name", "budget"],
  model: ["path", "preset", "tokenizer"],
  quant: ["quant_type", "double_quant", "blocksize"],
  lora: ["r", "lora_alpha", "lora_dropout", "target_modules", "use_rslora", "init_lora_weights", "loftq_config", "rank_pattern", "alpha_pattern", "exclude_modules", "layers_to_transform", "layers_pattern"],
  data: ["train", "eval", "eval_fraction", "format", "prompt_field", "response_field", "text_field", "text_split", "seq_len", "packing", "shuffle"],
  training: ["steps", "batch_size", "gradient_accumulation_steps", "max_grad_norm", "gradient_checkpointing", "seed"],
  optimizer: ["name", "lr", "betas", "eps", "weight_decay", "state", "state_budget_bytes", "page_bytes"],
  schedule: ["kind", "warmup_ratio", "warmup_steps"],
  eval: ["every", "batch_size"],
  save: ["every", "keep"],
} as const;

type Section = Record<string, unknown>;

/** Collects "key.path: expected X, got Y" problems while reading a recipe. */
class RecipeReader {
  readonly problems: string[] = [];

  constructor(readonly baseDir: string) {}

  /** Records a problem; `found` is a value (shown quoted, as JSON) or, in {text}, words that describe it. */
  problem(path: string, what: string, found: unknown): void {
    const shown = typeof found === "object" && found !== null && "text" in found ? (found as { text: string }).text : describeValue(found);
    this.problems.push(`${path}: ${expected(what, shown)}`.replace(/\.$/, ""));
  }

  /** The section at `key` of `parent` (an empty one when absent), with unknown keys reported. */
  section(parent: Section, key: keyof typeof RECIPE_KEYS): Section {
    const value = key === "" ? parent : parent[key];
    if (value === undefined || value === null) return {};
    if (typeof value !== "object" || Array.isArray(value)) {
      this.problem(key || "recipe", "a mapping of keys", value);
      return {};
    }
    const allowed: readonly string[] = RECIPE_KEYS[key];
    for (const name of Object.keys(value)) {
      if (allowed.includes(name)) continue;
      // A near spelling here, or the same key in the section it belongs to ("gradient_checkpointing" -> training.gradient_checkpointing).
      const home = Object.entries(RECIPE_KEYS).find(([section, keys]) => section !== key && section !== "" && (keys as readonly string[]).includes(name));
      const near = allowed.find((a) => editDistance(a, name) <= 2) ?? (home ? `${home[0]}.${name}` : undefined);
      this.problem(key ? `${key}.${name}` : name, `one of the keys ${key ? `of ${key} ` : ""}(${allowed.join(", ")})`, { text: `an unknown key${near ? ` (did you mean ${near}?)` : ""}` });
    }
    return value as Section;
  }

  integer(s: Section, path: string, min: number, fallback?: number): number | undefined {
    const v = s[leaf(path)];
    if (v === undefined || v === null) return fallback;
    if (typeof v === "number" && Number.isInteger(v) && v >= min && v <= Number.MAX_SAFE_INTEGER) return v;
    this.problem(path, min === 1 ? "a positive integer" : `an integer >= ${min}`, v);
    return fallback;
  }

  number(s: Section, path: string, check: { min?: number; above?: number; below?: number; max?: number }, fallback?: number): number | undefined {
    const v = s[leaf(path)];
    if (v === undefined || v === null) return fallback;
    const ok = typeof v === "number" && Number.isFinite(v) && (check.min === undefined || v >= check.min) && (check.above === undefined || v > check.above) && (check.below === undefined || v < check.below) && (check.max === undefined || v <= check.max);
    if (ok) return v;
    this.problem(path, describeRange(check), v);
    return fallback;
  }

  boolean(s: Section, path: string, fallback: boolean): boolean {
    const v = s[leaf(path)];
    if (v === undefined || v === null) return fallback;
    if (typeof v === "boolean") return v;
    this.problem(path, "true or false", v);
    return fallback;
  }

  choice<T extends string>(s: Section, path: string, choices: readonly T[], fallback: T): T {
    const v = s[leaf(path)];
    if (v === undefined || v === null) return fallback;
    if (typeof v === "string" && (choices as readonly string[]).includes(v)) return v as T;
    this.problem(path, `one of ${choices.map((c) => `"${c}"`).join(", ")}`, v);
    return fallback;
  }

  string(s: Section, path: string): string | undefined {
    const v = s[leaf(path)];
    if (v === undefined || v === null) return undefined;
    if (typeof v === "string" && v.length > 0) return v;
    this.problem(path, "a non-empty string", v);
    return undefined;
  }

  /** A path (relative ones start at the recipe's folder) that must exist as a file, a folder, or either. */
  existingPath(s: Section, path: string, kind: "file" | "folder" | "either", what: string): string | undefined {
    const given = this.string(s, path);
    if (given === undefined) return undefined;
    const full = isAbsolute(given) ? given : resolve(this.baseDir, given);
    if (!existsSync(full)) {
      this.problem(path, what, { text: `nothing at ${full}` });
      return undefined;
    }
    const isDir = statSync(full).isDirectory();
    if ((kind === "file" && isDir) || (kind === "folder" && !isDir)) {
      this.problem(path, what, { text: `a ${isDir ? "folder" : "file"} at ${full}` });
      return undefined;
    }
    return full;
  }
}

/** Levenshtein distance, to suggest the key a misspelt one was meant to be. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length]!;
}

function leaf(path: string): string {
  return path.slice(path.lastIndexOf(".") + 1);
}

function describeRange(check: { min?: number; above?: number; below?: number; max?: number }): string {
  if (check.above === 0 && check.below === undefined && check.max === undefined) return "a positive number";
  const parts = [check.min !== undefined ? `>= ${check.min}` : check.above !== undefined ? `> ${check.above}` : "", check.below !== undefined ? `< ${check.below}` : check.max !== undefined ? `<= ${check.max}` : ""].filter(Boolean);
  return `a number ${parts.join(" and ")}`;
}

/** Every preset name a recipe's model.preset accepts. */
function presetNames(): string[] {
  return [...Object.keys(MODEL_PRESETS), ...Object.keys(PRESET_ALIASES)];
}

/** Options of {@link validateRecipe}. */
export interface ValidateRecipeOptions {
  /** Relative paths in the recipe start here (default: the current folder). */
  baseDir?: string;
  /** Names the recipe in the error message (default "recipe"). */
  source?: string;
}

/**
 * Reads a parsed recipe into a {@link Recipe}, or throws one InvalidArgumentError that lists every
 * problem by key path (unknown keys, wrong types, values out of range, missing files, conflicting keys).
 */
export function validateRecipe(raw: unknown, options: ValidateRecipeOptions = {}): Recipe {
  const source = options.source ?? "recipe";
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new InvalidArgumentError(source, expected("a recipe: a mapping with model, data, training and output", describeValue(raw)));
  const r = new RecipeReader(options.baseDir ?? process.cwd());
  const top = r.section(raw as Section, "");

  const modelS = r.section(top, "model");
  if (top.model === undefined) r.problem("model", "a model section (model.path or model.preset)", { text: "nothing" });
  const model: Recipe["model"] = {};
  if (modelS.path !== undefined && modelS.preset !== undefined) r.problem("model", "model.path or model.preset, not both", { text: "both" });
  else if (modelS.path !== undefined) model.path = r.existingPath(modelS, "model.path", "either", "a Hugging Face model folder or a llama2.c .bin file");
  else if (modelS.preset !== undefined) {
    const name = r.string(modelS, "model.preset");
    if (name !== undefined && !presetNames().includes(name.toLowerCase())) r.problem("model.preset", `a known preset (${presetNames().join(", ")})`, name);
    else model.preset = name;
  } else if (top.model !== undefined) r.problem("model", "model.path or model.preset", { text: "neither" });
  if (modelS.tokenizer !== undefined) model.tokenizer = r.existingPath(modelS, "model.tokenizer", "file", "a tokenizer file (tokenizer.json or a llama2.c tokenizer .bin)");

  const method = r.choice(top, "method", ["lora", "qlora"] as const, "qlora");
  const baseDtype = r.choice(top, "base_dtype", ["f32", "bf16", "f16"] as const, "f32");
  if (top.base_dtype !== undefined && method === "qlora") r.problem("base_dtype", "base_dtype only with method lora (a qlora base is 4-bit: set quant.quant_type)", top.base_dtype);
  const quantS = r.section(top, "quant");
  if (top.quant !== undefined && method === "lora") r.problem("quant", "quant only with method qlora", { text: "a quant section with method lora" });
  const quant: Recipe["quant"] = {
    quantType: r.choice(quantS, "quant.quant_type", ["nf4", "fp4"] as const, "nf4"),
    doubleQuant: r.boolean(quantS, "quant.double_quant", true),
    blocksize: r.integer(quantS, "quant.blocksize", 1, 64)!,
  };
  if (![64, 128, 256, 512, 1024, 2048, 4096].includes(quant.blocksize)) r.problem("quant.blocksize", "one of 64, 128, 256, 512, 1024, 2048, 4096 (bitsandbytes' block sizes)", quant.blocksize);

  const loraS = r.section(top, "lora");
  const lora: Partial<LoraConfig> = {};
  for (const key of RECIPE_KEYS.lora) if (loraS[key] !== undefined) (lora as Record<string, unknown>)[key] = loraS[key];
  // PEFT's own rules for each field; its message names the field, so it is shown under lora.<field>.
  for (const key of Object.keys(lora)) {
    try {
      // init_lora_weights "loftq" and loftq_config are checked together (LoftQ needs its settings).
      const partner = key === "init_lora_weights" ? "loftq_config" : key === "loftq_config" ? "init_lora_weights" : undefined;
      const pair = partner && (lora as Record<string, unknown>)[partner] !== undefined ? { [partner]: (lora as Record<string, unknown>)[partner] } : {};
      validateLoraConfig({ ...pair, [key]: (lora as Record<string, unknown>)[key] }, { where: "lora" });
    } catch (error) {
      if (!(error instanceof InvalidArgumentError)) throw error;
      r.problems.push(`lora.${key}: ${error.message.slice("lora: ".length).replace(/\.$/, "")}`);
    }
  }

  const dataS = r.section(top, "data");
  if (top.data === undefined || dataS.train === undefined) r.problem("data.train", "a training data file (.jsonl, .csv, .txt, or pre-tokenized .jsonl)", { text: "nothing" });
  const format = r.choice(dataS, "data.format", ["auto", "jsonl", "csv", "text", "tokenized"] as const, "auto");
  const data: Recipe["data"] = {
    train: r.existingPath(dataS, "data.train", "file", "a data file") ?? "",
    eval: r.existingPath(dataS, "data.eval", "file", "a data file"),
    evalFraction: r.number(dataS, "data.eval_fraction", { above: 0, below: 1 }),
    format,
    promptField: r.string(dataS, "data.prompt_field"),
    responseField: r.string(dataS, "data.response_field"),
    textField: r.string(dataS, "data.text_field"),
    textSplit: dataS.text_split === undefined ? undefined : r.choice(dataS, "data.text_split", ["line", "paragraph", "file"] as const, "paragraph"),
    seqLen: r.integer(dataS, "data.seq_len", 2, 128)!,
    packing: r.boolean(dataS, "data.packing", false),
    shuffle: r.boolean(dataS, "data.shuffle", true),
  };
  if (dataS.eval !== undefined && dataS.eval_fraction !== undefined) r.problem("data", "data.eval or data.eval_fraction, not both", { text: "both" });
  if (data.packing && format === "tokenized") r.problem("data.packing", "false for pre-tokenized rows (they are used as they are)", true);
  if (!data.train) delete (data as Partial<Recipe["data"]>).train;

  const trainingS = r.section(top, "training");
  if (trainingS.steps === undefined) r.problem("training.steps", "a positive integer (optimizer steps to run)", { text: "nothing" });
  const training: Recipe["training"] = {
    steps: r.integer(trainingS, "training.steps", 1, 1)!,
    batchSize: r.integer(trainingS, "training.batch_size", 1, 8)!,
    gradientAccumulationSteps: r.integer(trainingS, "training.gradient_accumulation_steps", 1, 1)!,
    maxGradNorm: trainingS.max_grad_norm === null ? null : r.number(trainingS, "training.max_grad_norm", { above: 0 }, 0.3)!,
    gradientCheckpointing: r.boolean(trainingS, "training.gradient_checkpointing", false),
    seed: r.integer(trainingS, "training.seed", 0, 0)!,
  };

  const optS = r.section(top, "optimizer");
  if (optS.name !== undefined && optS.name !== "adamw") r.problem("optimizer.name", '"adamw"', optS.name);
  const betas: [number, number] = [0.9, 0.999];
  if (optS.betas !== undefined) {
    const b = optS.betas;
    if (Array.isArray(b) && b.length === 2 && b.every((x) => typeof x === "number" && x >= 0 && x < 1)) [betas[0], betas[1]] = [b[0], b[1]];
    else r.problem("optimizer.betas", "two numbers in [0, 1), e.g. [0.9, 0.999]", b);
  }
  const stateKind = r.choice(optS, "optimizer.state", ["resident", "paged", "8bit", "paged-8bit"] as const, "resident");
  const budget = r.integer(optS, "optimizer.state_budget_bytes", 0);
  const pageBytes = r.integer(optS, "optimizer.page_bytes", 64);
  let state: Recipe["optimizer"]["state"] = stateKind === "8bit" ? "8bit" : "resident";
  if (stateKind === "paged" || stateKind === "paged-8bit") {
    if (budget === undefined && optS.state_budget_bytes === undefined) r.problem("optimizer.state_budget_bytes", `bytes of optimizer state kept resident (state "${stateKind}" pages the rest)`, { text: "nothing" });
    state = { kind: stateKind, budgetBytes: budget ?? 0, ...(pageBytes !== undefined ? { pageBytes } : {}) };
  } else if (optS.state_budget_bytes !== undefined || optS.page_bytes !== undefined) r.problem("optimizer.state", '"paged" or "paged-8bit" with state_budget_bytes or page_bytes', stateKind);
  const optimizer: Recipe["optimizer"] = {
    lr: r.number(optS, "optimizer.lr", { above: 0 }, 2e-4)!,
    betas,
    eps: r.number(optS, "optimizer.eps", { above: 0 }, 1e-8)!,
    weightDecay: r.number(optS, "optimizer.weight_decay", { min: 0 }, 0)!,
    state,
  };

  const schedS = r.section(top, "schedule");
  const schedule: Recipe["schedule"] = {
    kind: r.choice(schedS, "schedule.kind", ["constant", "linear", "cosine"] as const, "constant"),
    warmupRatio: r.number(schedS, "schedule.warmup_ratio", { min: 0, max: 1 }, 0.03)!,
    warmupSteps: r.integer(schedS, "schedule.warmup_steps", 0),
  };
  if (schedS.warmup_ratio !== undefined && schedS.warmup_steps !== undefined) r.problem("schedule", "schedule.warmup_ratio or schedule.warmup_steps, not both", { text: "both" });

  const evalS = r.section(top, "eval");
  const evaluation: Recipe["eval"] = { every: r.integer(evalS, "eval.every", 1), batchSize: r.integer(evalS, "eval.batch_size", 1, 16)! };
  if (evalS.every !== undefined && dataS.eval === undefined && dataS.eval_fraction === undefined) r.problem("eval.every", "an eval set (data.eval or data.eval_fraction) to evaluate on", evalS.every);

  const saveS = r.section(top, "save");
  const save: Recipe["save"] = { every: r.integer(saveS, "save.every", 1), keep: r.integer(saveS, "save.keep", 1, 2)! };

  if (top.output === undefined) r.problem("output", "an output folder", { text: "nothing" });
  const outputGiven = r.string(top, "output");
  const output = outputGiven === undefined ? "" : isAbsolute(outputGiven) ? outputGiven : resolve(r.baseDir, outputGiven);
  if (output && existsSync(output) && !statSync(output).isDirectory()) r.problem("output", "a folder (or nothing yet)", { text: `a file at ${output}` });
  const runName = r.string(top, "run_name") ?? "train";
  let budgetBytes: number | undefined;
  try {
    if (top.budget !== undefined) budgetBytes = parseBudget(top.budget as number | string, "budget");
  } catch {
    r.problem("budget", 'a size such as "8GiB", "512MiB" or "8GB", or a number of bytes', top.budget);
  }

  if (r.problems.length) {
    // Listed section by section, in the order the recipe's sections are documented (unknown top-level keys last).
    const order = (line: string) => {
      const i = (RECIPE_KEYS[""] as readonly string[]).indexOf(line.split(/[.:]/)[0]!);
      return i < 0 ? RECIPE_KEYS[""].length : i;
    };
    r.problems.sort((a, b) => order(a) - order(b));
    const count = r.problems.length === 1 ? "1 problem" : `${r.problems.length} problems`;
    throw new InvalidArgumentError(source, `the recipe has ${count} (nothing was loaded):\n${r.problems.map((p) => `  ${p}`).join("\n")}`);
  }
  return { model, method, baseDtype, quant, lora, data, training, optimizer, schedule, eval: evaluation, save, output, runName, ...(budgetBytes !== undefined ? { budgetBytes } : {}) };
}
