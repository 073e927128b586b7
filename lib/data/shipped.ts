// The data qlora-lab ships in datasets/: the base model folder, the story corpus and the
// fine-tuning tasks (each tasks/<name>/ holds task.json, train.jsonl and eval.jsonl).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { FileFormatError, InvalidArgumentError, expected } from "../errors.js";
import type { PromptExample, TextExample } from "./examples.js";
import { isPromptExample } from "./examples.js";
import { loadJsonl } from "./jsonl.js";
import { loadText } from "./text.js";

/** How a task is scored: exact match of the greedy answer (up to a newline or EOS). */
export interface TaskMetricSpec {
  kind: "exact_match";
  /** Tokens to generate per answer. */
  maxNewTokens: number;
}

/** A fine-tuning task: train and eval splits and the metric that shows what the adapter learned. */
export interface Task {
  name: string;
  description: string;
  train: PromptExample[];
  eval: PromptExample[];
  metric: TaskMetricSpec;
}

/** The folder holding the shipped data: datasets/ at the package's root, found by walking up from this
 *  module, which sits at lib/data/ in the sources and at dist/lib/data/ in the built package. */
export function shippedDatasetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) || !existsSync(join(dir, "datasets"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new FileFormatError(fileURLToPath(import.meta.url), expected("a datasets/ folder beside package.json above this module", "none"));
    dir = parent;
  }
  return join(dir, "datasets") + sep;
}

/** The shipped base model (an HF folder: config.json, model.safetensors, tokenizer.json). */
export function shippedModelPath(): string {
  return `${shippedDatasetsDir()}base-model`;
}

/** Names of the shipped tasks ("qa", "reverse", ...). */
export function shippedTaskNames(): string[] {
  const dir = `${shippedDatasetsDir()}tasks`;
  return existsSync(dir) ? readdirSync(dir).filter((n) => existsSync(`${dir}/${n}/task.json`)).sort() : [];
}

/** Loads a shipped task by name, or a task folder (task.json optional, train.jsonl, eval.jsonl) by path. */
export function loadTask(nameOrDir: string): Task {
  const where = "loadTask";
  const shipped = shippedTaskNames();
  const dir = shipped.includes(nameOrDir) ? `${shippedDatasetsDir()}tasks/${nameOrDir}` : nameOrDir;
  if (!existsSync(`${dir}/train.jsonl`)) {
    throw new InvalidArgumentError(where, expected(`a shipped task (${shipped.join(", ")}) or a folder with train.jsonl and eval.jsonl`, nameOrDir));
  }
  let card: { name?: string; description?: string; maxNewTokens?: number } = {};
  if (existsSync(`${dir}/task.json`)) {
    try {
      card = JSON.parse(readFileSync(`${dir}/task.json`, "utf8"));
    } catch (error) {
      throw new FileFormatError(where, expected(`JSON in ${dir}/task.json`, (error as Error).message));
    }
  }
  const pairs = (file: string): PromptExample[] => {
    const loaded = loadJsonl(file);
    loaded.examples.forEach((e, i) => {
      if (!isPromptExample(e)) throw new FileFormatError(where, expected(`prompt/response pairs at ${file}:${loaded.sources[i]!.line}`, "a text example"));
    });
    return loaded.examples as PromptExample[];
  };
  const train = pairs(`${dir}/train.jsonl`);
  const evalSet = pairs(`${dir}/eval.jsonl`);
  const maxNewTokens = card.maxNewTokens ?? Math.max(...evalSet.map((e) => e.response.split(" ").length)) + 2;
  return {
    name: card.name ?? nameOrDir.split("/").filter(Boolean).pop()!,
    description: card.description ?? "",
    train,
    eval: evalSet,
    metric: { kind: "exact_match", maxNewTokens },
  };
}

/** The shipped pretraining corpus: one story per example. */
export function loadCorpus(): TextExample[] {
  return loadText(`${shippedDatasetsDir()}corpus/stories.txt`, { split: "line" }).examples as TextExample[];
}
