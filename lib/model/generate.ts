// Autoregressive generation with a KV cache: one prefill pass over the prompt, then one position per
// step; sampling per sampling.ts; tokens streamed to a callback; every tensor freed when it returns.
import * as tf from "@tensorflow/tfjs-core";
import { InvalidArgumentError, TensorError, expected } from "../errors.js";
import { firstNonFinite, requireNonNegativeInteger } from "../validate.js";
import type { KvCache } from "./kv_cache.js";
import type { LlamaConfig } from "./config.js";
import { sampleToken, seededRandom, validateSamplingOptions, type SamplingOptions } from "./sampling.js";

/** Options for generation; temperature 0 (the default) is greedy decoding. */
/** Tokens generate writes at most unless told otherwise. */
export const DEFAULT_MAX_NEW_TOKENS = 256;

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most (default 256); generation also stops when prompt + output fill the context. */
  maxNewTokens?: number;
  /** 32-bit seed for sampling; a random one is drawn (and reported) when absent. */
  seed?: number;
  /**
   * Stop when one of these ids is produced. Default: the config's EOS and BOS ids (a BOS mid-stream
   * starts a new document; llama2.c's run.c stops there too). null never stops early.
   */
  eosTokenId?: number | readonly number[] | null;
  /** Called with each new token id as soon as it is chosen; may return a promise (awaited). */
  onToken?: (id: number, index: number) => void | Promise<void>;
  /** Aborts generation between tokens (the result then has stoppedBy "aborted"). */
  signal?: AbortSignal;
}

/** What generate returns. */
export interface GenerateResult {
  promptIds: number[];
  /** New tokens, excluding the stop token. */
  ids: number[];
  stoppedBy: "eos" | "max_new_tokens" | "context_length" | "aborted";
  /** The seed the sampler used (pass it back to reproduce a sampled run). */
  seed: number;
  seconds: number;
  /** Generated tokens per second, prefill included. */
  tokensPerSecond: number;
}

/** The part of LlamaModel generation needs. */
export interface DecodingModel {
  readonly config: LlamaConfig;
  createCache(): KvCache;
  decodeStep(inputIds: tf.Tensor2D, cache: KvCache): tf.Tensor2D;
}

/** Runs the generation loop for `model`; see {@link GenerateOptions}. */
export async function generateTokens(model: DecodingModel, promptIds: number[], options: GenerateOptions = {}): Promise<GenerateResult> {
  const where = "generate";
  const { vocabSize, maxPositionEmbeddings } = model.config;
  if (!Array.isArray(promptIds) || promptIds.length === 0) throw new InvalidArgumentError(where, expected("at least one prompt id (start with the BOS id)", promptIds));
  promptIds.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new InvalidArgumentError(where, expected(`prompt ids in [0, ${vocabSize})`, id, `Position ${i} is out of range.`));
  });
  if (promptIds.length > maxPositionEmbeddings) throw new InvalidArgumentError(where, expected(`a prompt of at most ${maxPositionEmbeddings} tokens`, promptIds.length));
  const maxNewTokens = options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  requireNonNegativeInteger(where, "maxNewTokens", maxNewTokens);
  validateSamplingOptions(options, where);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  if (!Number.isInteger(seed)) throw new InvalidArgumentError(where, expected("an integer seed", seed));
  const stopIds = new Set(options.eosTokenId === undefined ? [model.config.eosTokenId, model.config.bosTokenId] : options.eosTokenId === null ? [] : typeof options.eosTokenId === "number" ? [options.eosTokenId] : options.eosTokenId);
  const random = seededRandom(seed);

  const started = performance.now();
  const ids: number[] = [];
  let stoppedBy: GenerateResult["stoppedBy"] = "max_new_tokens";
  const cache = model.createCache();
  try {
    let input = promptIds;
    while (ids.length < maxNewTokens) {
      if (options.signal?.aborted) {
        stoppedBy = "aborted";
        break;
      }
      if (promptIds.length + ids.length >= maxPositionEmbeddings) {
        stoppedBy = "context_length";
        break;
      }
      const logits = tf.tidy(() => model.decodeStep(tf.tensor2d(input, [1, input.length], "int32"), cache)); // [1, V]
      const values = await logits.data();
      logits.dispose();
      const bad = firstNonFinite(values);
      if (bad >= 0) {
        throw new TensorError(
          where,
          expected(`finite logits at step ${ids.length}`, `${values[bad]} for token id ${bad}`, "An overflow in the forward pass (weights, or an adapter's scaling, too large): argmax over these would pick an arbitrary token."),
        );
      }
      const next = sampleToken(values, options, random);
      if (stopIds.has(next)) {
        stoppedBy = "eos";
        break;
      }
      ids.push(next);
      await options.onToken?.(next, ids.length - 1);
      input = [next];
    }
  } finally {
    cache.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  return { promptIds: [...promptIds], ids, stoppedBy, seed, seconds, tokensPerSecond: seconds > 0 ? ids.length / seconds : 0 };
}
