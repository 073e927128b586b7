// Turns examples into token sequences with a loss mask (prompt tokens masked out, as QLoRA's
// "train on target" setting), and sequences into padded [B, T] batches for a causal LM.
import { InvalidArgumentError, expected } from "../errors.js";
import { requireIntegerAtLeast } from "../validate.js";
import { isPromptExample, type Example } from "../data/examples.js";
import { Rng } from "./rng.js";

/** What batching needs from a tokenizer (lib/model's Tokenizer fits). */
export interface BatchTokenizer {
  encode(text: string, options?: { bos?: boolean; eos?: boolean }): number[];
  readonly bosId: number;
  readonly eosId: number;
}

/** One token sequence; `counted[i]` = 1 when ids[i] is a target the loss counts. */
export interface TokenSequence {
  ids: number[];
  counted: number[];
  /** Target ids where they differ from `ids` (pre-tokenized rows with their own labels); default ids. */
  labels?: number[];
}

/** The label Hugging Face's cross-entropy ignores. */
export const IGNORE_INDEX = -100;

/** Pre-tokenized rows, used as they are: what {@link train} takes in place of examples. */
export interface TokenizedDataset {
  sequences: readonly TokenSequence[];
}

/** Whether `data` is a {@link TokenizedDataset} rather than a list of examples. */
export function isTokenizedDataset(data: unknown): data is TokenizedDataset {
  return typeof data === "object" && data !== null && !Array.isArray(data) && Array.isArray((data as TokenizedDataset).sequences);
}

/** Sequences of pre-tokenized rows, as Hugging Face datasets hold them: labels -100 do not count; cut to maxLength + 1 tokens. */
export function sequencesFromRows(rows: readonly { inputIds: readonly number[]; labels?: readonly number[] }[], maxLength: number): TokenSequence[] {
  requireIntegerAtLeast("sequencesFromRows", "maxLength", maxLength, 2);
  const limit = maxLength + 1;
  return rows.map((row) => {
    const ids = row.inputIds.slice(0, limit);
    if (!row.labels) return { ids, counted: ids.map((_, i) => (i === 0 ? 0 : 1)) };
    const labels = row.labels.slice(0, limit);
    const counted = labels.map((l, i) => (i === 0 || l === IGNORE_INDEX ? 0 : 1));
    // A label of -100 keeps the input id as its (uncounted) target, so every target is a valid token.
    const targets = labels.map((l, i) => (l === IGNORE_INDEX ? ids[i]! : l));
    return targets.every((t, i) => t === ids[i]) ? { ids, counted } : { ids, counted, labels: targets };
  });
}


/** A padded causal-LM batch: predict targets[b, t] = ids[b, t + 1] from inputs[b, 0..t]. */
export interface Batch {
  /** [B, T] input ids. */
  inputIds: Int32Array;
  /** [B, T] target ids. */
  targets: Int32Array;
  /** [B, T] 1 where the target counts, 0 for prompt and padding. */
  mask: Float32Array;
  batchSize: number;
  time: number;
  /** Real (non-padding) input tokens. */
  tokens: number;
  /** Targets the loss counts (sum of mask). */
  countedTokens: number;
}

/**
 * Tokenizes examples: [BOS] prompt response [EOS] with only response and EOS counted, or
 * [BOS] text [EOS] with everything counted. Sequences longer than maxLength + 1 tokens lose the
 * start of their prompt; long texts are cut into consecutive windows.
 */
export function tokenizeExamples(examples: readonly Example[], tokenizer: BatchTokenizer, maxLength: number): TokenSequence[] {
  requireIntegerAtLeast("tokenizeExamples", "maxLength", maxLength, 2);
  const limit = maxLength + 1; // inputs and targets are both maxLength long
  const out: TokenSequence[] = [];
  for (const example of examples) {
    if (isPromptExample(example)) {
      let prompt = [tokenizer.bosId, ...tokenizer.encode(example.prompt, { bos: false })];
      let response = [...tokenizer.encode(example.response, { bos: false }), tokenizer.eosId];
      if (response.length > limit - 1) response = response.slice(0, limit - 1);
      if (prompt.length + response.length > limit) prompt = [tokenizer.bosId, ...prompt.slice(prompt.length - (limit - response.length - 1))];
      out.push({ ids: [...prompt, ...response], counted: [...prompt.map(() => 0), ...response.map(() => 1)] });
    } else {
      const ids = [tokenizer.bosId, ...tokenizer.encode(example.text, { bos: false }), tokenizer.eosId];
      // Windows overlap by one token so every target is predicted exactly once.
      for (let start = 0; start < ids.length - 1; start += limit - 1) {
        const window = ids.slice(start, start + limit);
        if (window.length < 2) break;
        out.push({ ids: window, counted: window.map((_, i) => (i === 0 ? 0 : 1)) });
      }
    }
  }
  return out;
}

/**
 * Packs examples end to end ([BOS] text [EOS] [BOS] text [EOS] ...) into windows of exactly
 * maxLength + 1 tokens, as GPT-style pretraining does: no padding, attention crosses example
 * boundaries. Consecutive windows share one token so every target is predicted once; a short
 * tail is dropped.
 */
export function packExamples(examples: readonly Example[], tokenizer: BatchTokenizer, maxLength: number): TokenSequence[] {
  requireIntegerAtLeast("packExamples", "maxLength", maxLength, 2);
  const limit = maxLength + 1;
  const ids: number[] = [];
  const counted: number[] = [];
  for (const example of examples) {
    const [head, tail] = isPromptExample(example) ? [example.prompt, example.response] : ["", example.text];
    const prompt = [tokenizer.bosId, ...(head ? tokenizer.encode(head, { bos: false }) : [])];
    const rest = [...tokenizer.encode(tail, { bos: false }), tokenizer.eosId];
    for (const id of prompt) ids.push(id), counted.push(0);
    for (const id of rest) ids.push(id), counted.push(1);
  }
  const out: TokenSequence[] = [];
  for (let start = 0; start + limit <= ids.length; start += limit - 1) out.push({ ids: ids.slice(start, start + limit), counted: counted.slice(start, start + limit) });
  return out;
}

/** Pads sequences to the longest one (padding is masked) and shifts them into inputs/targets. */
export function makeBatch(sequences: readonly TokenSequence[], padId: number): Batch {
  if (sequences.length === 0) throw new InvalidArgumentError("makeBatch", expected("at least one sequence", 0));
  const batchSize = sequences.length;
  const time = Math.max(...sequences.map((s) => s.ids.length)) - 1;
  const inputIds = new Int32Array(batchSize * time).fill(padId);
  const targets = new Int32Array(batchSize * time).fill(padId);
  const mask = new Float32Array(batchSize * time);
  let tokens = 0;
  let countedTokens = 0;
  sequences.forEach((s, b) => {
    for (let t = 0; t + 1 < s.ids.length; t++) {
      inputIds[b * time + t] = s.ids[t]!;
      targets[b * time + t] = (s.labels ?? s.ids)[t + 1]!;
      mask[b * time + t] = s.counted[t + 1]!;
      countedTokens += s.counted[t + 1]!;
      tokens++;
    }
  });
  return { inputIds, targets, mask, batchSize, time, tokens, countedTokens };
}

/** Sampler position: which epoch and how far into its shuffled order. */
export interface SamplerState {
  epoch: number;
  cursor: number;
}

/**
 * Draws example indices epoch by epoch, each epoch a fresh permutation seeded by (seed, epoch),
 * so the whole order follows from the seed and the position (what a checkpoint stores). With
 * `shuffle` false every epoch is the file order.
 */
export class EpochSampler {
  private order: number[] = [];
  private orderEpoch = -1;

  constructor(
    readonly size: number,
    readonly seed: number,
    public state: SamplerState = { epoch: 0, cursor: 0 },
    readonly shuffle = true,
  ) {
    if (!(Number.isInteger(size) && size > 0)) throw new InvalidArgumentError("EpochSampler", expected("a non-empty dataset", size));
  }

  /** The next `n` indices (crossing into the next epoch when this one runs out). */
  next(n: number): number[] {
    const out: number[] = [];
    while (out.length < n) {
      if (this.state.cursor >= this.size) this.state = { epoch: this.state.epoch + 1, cursor: 0 };
      if (this.orderEpoch !== this.state.epoch) {
        this.order = this.shuffle ? permutation(this.size, this.seed, this.state.epoch) : Array.from({ length: this.size }, (_, i) => i);
        this.orderEpoch = this.state.epoch;
      }
      out.push(this.order[this.state.cursor]!);
      this.state = { epoch: this.state.epoch, cursor: this.state.cursor + 1 };
    }
    return out;
  }
}

function permutation(n: number, seed: number, epoch: number): number[] {
  const rng = new Rng(seed * 1_000_003 + epoch * 7919 + 17);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

