// Trains the base model's tokenizer: byte-level BPE (GPT-2's byte-to-unicode alphabet and
// pre-tokenizing regex; Sennrich et al. 2016 merges) on the corpus and the task texts, written as
// a Hugging Face tokenizer.json (+ tokenizer_config.json). Deterministic: ties break by pair text.
// Run: node --import tsx datasets/make_tokenizer.ts   (after make_corpus.ts and make_tasks.ts)
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "../lib/io/atomic_write.js";

/** Vocabulary size: 3 special tokens + 256 byte symbols + merges. */
export const VOCAB_SIZE = 1024;
/** Special tokens, LLaMA's ids. */
export const SPECIAL_TOKENS = ["<unk>", "<s>", "</s>"] as const;

/** GPT-2's reversible map from bytes to printable unicode characters. */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) map[b] = String.fromCharCode(printable.includes(b) ? b : 256 + extra++);
  return map;
}

/** GPT-2's pre-tokenizer pattern (the one the ByteLevel pre-tokenizer applies). */
const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Counts the byte-level pre-tokens ("words") of `texts`. */
export function countWords(texts: readonly string[]): Map<string, number> {
  const byteChars = bytesToUnicode();
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const match of text.matchAll(GPT2_PATTERN)) {
      const word = Array.from(Buffer.from(match[0], "utf8"), (b) => byteChars[b]).join("");
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  return counts;
}

/** Learns `numMerges` BPE merges from word counts; returns the merges in rank order. */
export function learnMerges(counts: Map<string, number>, numMerges: number): Array<[string, string]> {
  const words = [...counts].map(([word, count]) => ({ symbols: Array.from(word), count }));
  const merges: Array<[string, string]> = [];
  for (let m = 0; m < numMerges; m++) {
    const pairs = new Map<string, number>();
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]}\u0000${symbols[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + count);
      }
    }
    let best: string | undefined;
    let bestCount = 0;
    for (const [key, count] of pairs) {
      if (count > bestCount || (count === bestCount && best !== undefined && key < best)) {
        best = key;
        bestCount = count;
      }
    }
    if (best === undefined || bestCount < 2) break;
    const [a, b] = best.split("\u0000") as [string, string];
    merges.push([a, b]);
    for (const word of words) {
      const out: string[] = [];
      const s = word.symbols;
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(a + b);
          i++;
        } else out.push(s[i]!);
      }
      word.symbols = out;
    }
  }
  return merges;
}

/** The tokenizer.json object for a byte-level BPE with the given merges. */
export function tokenizerJson(merges: ReadonlyArray<[string, string]>): object {
  const vocab: Record<string, number> = {};
  SPECIAL_TOKENS.forEach((t, i) => (vocab[t] = i));
  for (const c of bytesToUnicode()) vocab[c] = Object.keys(vocab).length;
  for (const [a, b] of merges) if (vocab[a + b] === undefined) vocab[a + b] = Object.keys(vocab).length;
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", ...byteLevel },
    post_processor: null,
    decoder: { type: "ByteLevel", ...byteLevel },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
}

/** tokenizer_config.json: the special tokens and no space clean-up (decode is exact). */
export const TOKENIZER_CONFIG = {
  tokenizer_class: "PreTrainedTokenizerFast",
  bos_token: "<s>",
  eos_token: "</s>",
  unk_token: "<unk>",
  add_bos_token: true,
  add_eos_token: false,
  clean_up_tokenization_spaces: false,
  model_max_length: 128,
};

/** The tasks whose texts the shipped tokenizer learned from (later tasks reuse its vocabulary). */
export const TOKENIZER_TASKS = ["qa", "reverse", "color"] as const;

/** Every text the tokenizer learns from: the corpus and the prompts and responses of TOKENIZER_TASKS. */
export function trainingTexts(datasetsDir: URL): string[] {
  const texts = [readFileSync(new URL("corpus/stories.txt", datasetsDir), "utf8")];
  for (const task of TOKENIZER_TASKS) {
    for (const split of ["train.jsonl", "eval.jsonl"]) {
      const lines = readFileSync(new URL(`tasks/${task}/${split}`, datasetsDir), "utf8").split("\n").filter(Boolean);
      for (const line of lines) {
        const { prompt, response } = JSON.parse(line) as { prompt: string; response: string };
        texts.push(prompt + response);
      }
    }
  }
  return texts;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const datasets = new URL("./", import.meta.url);
  const merges = learnMerges(countWords(trainingTexts(datasets)), VOCAB_SIZE - SPECIAL_TOKENS.length - 256);
  const json = tokenizerJson(merges);
  const out = new URL("base-model/", datasets).pathname;
  writeFileAtomic(`${out}tokenizer.json`, JSON.stringify(json, null, 1) + "\n");
  writeFileAtomic(`${out}tokenizer_config.json`, JSON.stringify(TOKENIZER_CONFIG, null, 2) + "\n");
  console.log(`datasets/base-model/tokenizer.json: ${SPECIAL_TOKENS.length + 256 + merges.length} tokens (${merges.length} merges)`);
}
