// Loading a tokenizer from a path (llama2.c tokenizer.bin or Hugging Face tokenizer.json, auto-detected).
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { FileFormatError, expected } from "../errors.js";
import { HfTokenizer } from "./hf_tokenizer.js";
import { Llama2cTokenizer } from "./llama2c_tokenizer.js";
import type { Tokenizer } from "./tokenizer_contract.js";

export type { Tokenizer } from "./tokenizer_contract.js";

/** Loads a llama2.c tokenizer.bin, a Hugging Face tokenizer.json, or the tokenizer inside a folder. */
export async function loadTokenizer(path: string): Promise<Tokenizer> {
  if (!existsSync(path)) throw new FileFormatError(path, expected("a tokenizer file (tokenizer.json or a llama2.c tokenizer .bin) or a folder holding one", "nothing at that path"));
  if (statSync(path).isDirectory()) {
    const found = tokenizerInFolder(path);
    if (!found) throw new FileFormatError(path, expected("tokenizer.json, tokenizer.bin or tok*.bin in the folder", "none of them", "Pass --tokenizer PATH."));
    return loadTokenizer(found);
  }
  return path.endsWith(".json") ? HfTokenizer.load(path) : Llama2cTokenizer.load(path);
}

/** The tokenizer that belongs with a model path: tokenizer.json in an HF folder, tokenizer.bin / tok*.bin beside a llama2.c .bin. */
export function findTokenizerFor(modelPath: string): string | undefined {
  if (!existsSync(modelPath)) return undefined;
  const dir = statSync(modelPath).isDirectory() ? modelPath : dirname(modelPath);
  return tokenizerInFolder(dir);
}

function tokenizerInFolder(dir: string): string | undefined {
  for (const name of ["tokenizer.json", "tokenizer.bin"]) if (existsSync(join(dir, name))) return join(dir, name);
  const tok = readdirSync(dir)
    .filter((n) => /^tok.*\.bin$/.test(n))
    .sort();
  return tok.length ? join(dir, basename(tok[0]!)) : undefined;
}
