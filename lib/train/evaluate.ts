// Evaluation: token-weighted mean loss and perplexity over a held-out set, and exact-match
// accuracy of greedy answers (the task metric of the shipped tasks).
import * as tf from "@tensorflow/tfjs-core";
import { InvalidArgumentError, expected } from "../errors.js";
import type { Example, PromptExample } from "../data/examples.js";
import { isTokenizedDataset, makeBatch, tokenizeExamples, type BatchTokenizer, type TokenizedDataset } from "./batching.js";
import type { GeneratingModel, TrainableModel } from "./model_contract.js";

/** Options for {@link evaluateLoss}. */
export interface EvaluateOptions {
  /** Tokenizes examples; optional for pre-tokenized rows (padded with id 0, never counted). */
  tokenizer?: BatchTokenizer;
  /** Default 16. */
  batchSize?: number;
  /** Default 128. */
  maxLength?: number;
}

/** Eval loss (mean over counted tokens), perplexity = exp(loss), and the tokens counted. */
export interface LossResult {
  loss: number;
  perplexity: number;
  countedTokens: number;
}

/** Mean masked cross-entropy over `examples` (same tokenization and masking as training) or over pre-tokenized rows. */
export async function evaluateLoss(model: TrainableModel, examples: readonly Example[] | TokenizedDataset, options: EvaluateOptions): Promise<LossResult> {
  const batchSize = options.batchSize ?? 16;
  if (!isTokenizedDataset(examples) && !options.tokenizer) throw new InvalidArgumentError("evaluateLoss", expected("options.tokenizer for examples", "undefined", "Pass the model's tokenizer, or pre-tokenized rows ({ sequences })."));
  const sequences = isTokenizedDataset(examples) ? examples.sequences : tokenizeExamples(examples, options.tokenizer!, options.maxLength ?? 128);
  if (sequences.length === 0) throw new InvalidArgumentError("evaluateLoss", expected("at least one example", 0));
  let total = 0;
  let counted = 0;
  for (let i = 0; i < sequences.length; i += batchSize) {
    const batch = makeBatch(sequences.slice(i, i + batchSize), options.tokenizer?.eosId ?? 0);
    if (batch.countedTokens === 0) continue;
    const value = tf.tidy(() => {
      const shape: [number, number] = [batch.batchSize, batch.time];
      return model.loss(tf.tensor2d(batch.inputIds, shape, "int32"), tf.tensor2d(batch.targets, shape, "int32"), tf.tensor2d(batch.mask, shape, "float32"));
    });
    total += (await value.data())[0]! * batch.countedTokens;
    value.dispose();
    counted += batch.countedTokens;
  }
  const loss = total / Math.max(1, counted);
  return { loss, perplexity: Math.exp(loss), countedTokens: counted };
}

/** A task metric: a name and a value (higher is better), computed from the model. */
export interface MetricResult {
  name: string;
  value: number;
}

/** Computes a task metric for the current weights. */
export type MetricFn = (model: GeneratingModel) => Promise<MetricResult>;

/** What the decoder of {@link exactMatch} needs. */
export interface MetricTokenizer extends BatchTokenizer {
  decode(ids: readonly number[]): string;
}

/** Options for {@link exactMatch}. */
export interface ExactMatchOptions {
  tokenizer: MetricTokenizer;
  /** Tokens to generate per answer (default 8). */
  maxNewTokens?: number;
  /** Score only the first `limit` examples (default all). */
  limit?: number;
  /** Called with each example's answer (for showing a few in a notebook). */
  onAnswer?: (example: PromptExample, answer: string, correct: boolean) => void;
}

/** The answer text: up to the first newline, trimmed. */
export function normalizeAnswer(text: string): string {
  return text.split("\n")[0]!.trim();
}

/** Fraction of prompts whose greedy answer (to a newline or EOS) equals the response exactly. */
export async function exactMatchAccuracy(model: GeneratingModel, examples: readonly PromptExample[], options: ExactMatchOptions): Promise<number> {
  const { tokenizer } = options;
  const list = examples.slice(0, options.limit ?? examples.length);
  if (list.length === 0) throw new InvalidArgumentError("exactMatch", expected("at least one example", 0));
  let correct = 0;
  for (const example of list) {
    const promptIds = [tokenizer.bosId, ...tokenizer.encode(example.prompt, { bos: false })];
    const result = await model.generate(promptIds, { maxNewTokens: options.maxNewTokens ?? 8, temperature: 0, eosTokenId: tokenizer.eosId, seed: 0 });
    const answer = result.ids.length ? normalizeAnswer(tokenizer.decode(result.ids)) : ""; // EOS first: an empty answer
    const ok = answer === normalizeAnswer(example.response);
    if (ok) correct++;
    options.onAnswer?.(example, answer, ok);
  }
  return correct / list.length;
}

/** An exact-match {@link MetricFn} over `examples` (metric name "exact_match"). */
export function exactMatch(examples: readonly PromptExample[], options: ExactMatchOptions): MetricFn {
  return async (model) => ({ name: "exact_match", value: await exactMatchAccuracy(model, examples, options) });
}
