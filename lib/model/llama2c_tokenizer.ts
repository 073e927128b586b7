// llama2.c's tokenizer.bin and its encoder, exactly as run.c does it: BOS, a dummy-prefix " ",
// one lookup per UTF-8 character (unknown bytes become byte fallback ids byte + 3), then repeatedly
// merge the adjacent pair whose concatenation is in the vocabulary with the best score.
// File: int32 max_token_length, then per token float32 score, int32 length, bytes.
import { readFileSync } from "node:fs";
import { FileFormatError, InvalidArgumentError, expected } from "../errors.js";
import type { Tokenizer } from "./tokenizer_contract.js";

const BYTE_FALLBACK_OFFSET = 3; // ids 3..258 are <0x00>..<0xFF>

/** A llama2.c score-ordered BPE tokenizer with byte fallback. */
export class Llama2cTokenizer implements Tokenizer {
  readonly bosId = 1;
  readonly eosId = 2;
  private readonly lookup: Map<string, number>;

  /** `pieces` are token byte strings (latin1: one char per byte); `scores` their merge priorities. */
  constructor(
    readonly pieces: readonly string[],
    readonly scores: Float32Array,
  ) {
    this.lookup = new Map();
    // run.c binary-searches a sorted copy; on a duplicate piece keep the first id.
    pieces.forEach((piece, id) => {
      if (!this.lookup.has(piece)) this.lookup.set(piece, id);
    });
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  /** Reads a llama2.c tokenizer.bin (the vocabulary size is however many entries it holds). */
  static load(path: string): Llama2cTokenizer {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      throw new FileFormatError(path, expected("a readable tokenizer file", (error as NodeJS.ErrnoException).code ?? String(error)));
    }
    if (bytes.length < 4) throw new FileFormatError(path, expected("a llama2.c tokenizer.bin", `${bytes.length} bytes`, "The file is truncated."));
    const pieces: string[] = [];
    const scores: number[] = [];
    let offset = 4;
    while (offset < bytes.length) {
      if (offset + 8 > bytes.length) throw new FileFormatError(path, expected(`a complete entry for token ${pieces.length}`, `${bytes.length - offset} trailing bytes`, "The file is truncated."));
      const score = bytes.readFloatLE(offset);
      const length = bytes.readInt32LE(offset + 4);
      if (length < 0 || offset + 8 + length > bytes.length) throw new FileFormatError(path, expected(`token ${pieces.length} to fit in the file`, `length ${length} at offset ${offset}`, "The file is truncated or not a llama2.c tokenizer."));
      pieces.push(bytes.subarray(offset + 8, offset + 8 + length).toString("latin1"));
      scores.push(score);
      offset += 8 + length;
    }
    if (pieces.length < 259) throw new FileFormatError(path, expected("at least 259 tokens (<unk>, <s>, </s>, 256 byte fallbacks)", pieces.length));
    return new Llama2cTokenizer(pieces, Float32Array.from(scores));
  }

  encode(text: string, options: { bos?: boolean; eos?: boolean } = {}): number[] {
    if (typeof text !== "string") throw new InvalidArgumentError("Llama2cTokenizer.encode", expected("a string", text));
    const ids: number[] = [];
    if (text.length > 0) {
      const prefix = this.lookup.get(" ");
      if (prefix !== undefined) ids.push(prefix);
    }
    const bytes = Buffer.from(text, "utf8");
    let i = 0;
    while (i < bytes.length) {
      const lead = bytes[i]!;
      let length = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
      length = Math.min(length, bytes.length - i);
      const char = bytes.subarray(i, i + length);
      const id = this.lookup.get(char.toString("latin1"));
      if (id !== undefined) ids.push(id);
      else for (const b of char) ids.push(b + BYTE_FALLBACK_OFFSET);
      i += length;
    }
    // Greedy merges by score, first pair winning ties (run.c: strictly greater).
    for (;;) {
      let bestScore = -1e10;
      let bestId = -1;
      let bestIndex = -1;
      for (let j = 0; j + 1 < ids.length; j++) {
        const merged = this.lookup.get(this.pieces[ids[j]!]! + this.pieces[ids[j + 1]!]!);
        if (merged !== undefined && this.scores[merged]! > bestScore) {
          bestScore = this.scores[merged]!;
          bestId = merged;
          bestIndex = j;
        }
      }
      if (bestIndex === -1) break;
      ids.splice(bestIndex, 2, bestId);
    }
    if (options.bos ?? true) ids.unshift(this.bosId);
    if (options.eos ?? false) ids.push(this.eosId);
    return ids;
  }

  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    let previous = -1;
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.pieces.length) throw new InvalidArgumentError("Llama2cTokenizer.decode", expected(`ids in [0, ${this.pieces.length})`, id));
      if (id === this.bosId || id === this.eosId) {
        previous = id;
        continue;
      }
      let piece = this.pieces[id]!;
      // run.c drops the space after BOS; at the start of a sequence it is the dummy prefix too.
      if ((previous === -1 || previous === this.bosId) && piece.startsWith(" ")) piece = piece.slice(1);
      const byte = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
      if (byte) bytes.push(parseInt(byte[1]!, 16));
      else for (let k = 0; k < piece.length; k++) bytes.push(piece.charCodeAt(k));
      previous = id;
    }
    return new TextDecoder("utf-8").decode(Uint8Array.from(bytes));
  }
}
