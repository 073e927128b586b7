// Hugging Face tokenizer.json (and tokenizer_config.json beside it) through @huggingface/tokenizers,
// behind the shared Tokenizer interface.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Tokenizer as HfLibraryTokenizer } from "@huggingface/tokenizers";
import { FileFormatError, InvalidArgumentError, expected } from "../errors.js";
import type { Tokenizer } from "./tokenizer_contract.js";

/** A Hugging Face tokenizer; `bos: true` prepends the BOS id explicitly (the same for every template). */
export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;

  constructor(
    readonly inner: HfLibraryTokenizer,
    config: Record<string, unknown> = {},
  ) {
    this.vocabSize = inner.get_vocab(true).size;
    this.bosId = this.specialId(config.bos_token, ["<s>", "<|begin_of_text|>", "<|endoftext|>"]);
    this.eosId = this.specialId(config.eos_token, ["</s>", "<|end_of_text|>", "<|endoftext|>"]);
  }

  /** Reads tokenizer.json and, when present beside it, tokenizer_config.json. */
  static load(path: string): HfTokenizer {
    const json = readJson(path);
    const configPath = join(dirname(path), "tokenizer_config.json");
    const config = existsSync(configPath) ? readJson(configPath) : {};
    try {
      return new HfTokenizer(new HfLibraryTokenizer(json, config), config);
    } catch (error) {
      if (error instanceof InvalidArgumentError) throw error;
      throw new FileFormatError(path, expected("a tokenizer.json the tokenizers library accepts", (error as Error).message));
    }
  }

  encode(text: string, options: { bos?: boolean; eos?: boolean } = {}): number[] {
    if (typeof text !== "string") throw new InvalidArgumentError("HfTokenizer.encode", expected("a string", text));
    const ids = this.inner.encode(text, { add_special_tokens: false }).ids;
    if ((options.bos ?? true) && this.bosId >= 0) ids.unshift(this.bosId);
    if ((options.eos ?? false) && this.eosId >= 0) ids.push(this.eosId);
    return ids;
  }

  decode(ids: readonly number[]): string {
    return this.inner.decode([...ids], { skip_special_tokens: true });
  }

  private specialId(configured: unknown, fallbacks: string[]): number {
    const content = typeof configured === "string" ? configured : (configured as { content?: string } | undefined)?.content;
    for (const token of content ? [content] : fallbacks) {
      const id = this.inner.token_to_id(token);
      if (id !== undefined) return id;
    }
    return -1;
  }
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (error) {
    throw new FileFormatError(path, expected("a readable JSON file", (error as NodeJS.ErrnoException).code ?? (error as Error).message));
  }
}
