// Tokenizers: llama2.c's tokenizer.bin encoded as run.c does, and Hugging Face tokenizer.json through
// @huggingface/tokenizers, behind one interface.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileFormatError } from "../../../lib/errors.js";
import { Llama2cTokenizer, findTokenizerFor, loadTokenizer } from "../../../lib/model/index.js";
import { HF_MODEL, LLAMA2C_MODEL, LLAMA2C_TOKENIZER } from "./helpers.js";

const tmp = () => mkdtempSync(join(tmpdir(), "qlora-lab-tok-"));

test("tok512.bin: 512 tokens with <unk>, BOS, EOS and byte fallbacks where run.c expects them", async () => {
  const tok = (await loadTokenizer(LLAMA2C_TOKENIZER)) as Llama2cTokenizer;
  assert.equal(tok.vocabSize, 512);
  assert.equal(tok.pieces[3], "<0x00>");
  assert.equal(tok.pieces[258], "<0xFF>");
  assert.deepEqual([tok.bosId, tok.eosId], [1, 2]);
});

test("encode: BOS, dummy-prefix space, best-score merges (hand-checked against the vocabulary)", async () => {
  const tok = (await loadTokenizer(LLAMA2C_TOKENIZER)) as Llama2cTokenizer;
  assert.deepEqual(tok.encode(""), [1]); // run.c adds no dummy prefix to an empty prompt
  const ids = tok.encode("Once upon");
  assert.equal(ids[0], 1);
  assert.deepEqual(ids.slice(1).map((id) => tok.pieces[id]), [" Once", " upon"]);
  // No further merge is possible: no adjacent pair concatenates to a vocabulary piece.
  const pieces = tok.encode("a cat sat", { bos: false }).map((id) => tok.pieces[id]!);
  for (let i = 0; i + 1 < pieces.length; i++) assert.ok(!tok.pieces.includes(pieces[i]! + pieces[i + 1]!), `${pieces[i]}+${pieces[i + 1]} should have merged`);
  assert.equal(pieces.join(""), " a cat sat");
  assert.deepEqual(tok.encode("hi", { bos: false, eos: true }).at(-1), 2);
});

test("characters outside the vocabulary fall back to their UTF-8 bytes + 3 and decode back exactly", async () => {
  const tok = await loadTokenizer(LLAMA2C_TOKENIZER);
  const text = "Lily saw a 🐱 and said héllo";
  const ids = tok.encode(text);
  for (const b of Buffer.from("🐱", "utf8")) assert.ok(ids.includes(b + 3), `byte 0x${b.toString(16)} falls back to id ${b + 3}`);
  assert.equal(tok.decode(ids), text);
  assert.equal(tok.decode(tok.encode("Tom\nran.")), "Tom\nran.");
});

test("a truncated tokenizer.bin is refused", () => {
  const path = join(tmp(), "tok.bin");
  writeFileSync(path, readFileSync(LLAMA2C_TOKENIZER).subarray(0, 3001));
  assert.throws(() => Llama2cTokenizer.load(path), (e: Error) => e instanceof FileFormatError && /truncated/.test(e.message));
});

test("a Hugging Face tokenizer.json loads through @huggingface/tokenizers behind the same interface", async () => {
  const dir = tmp();
  const vocab: Record<string, number> = { "<unk>": 0, "<s>": 1, "</s>": 2, "▁": 3, h: 4, i: 5, "▁hi": 6, "▁h": 7, t: 8, "▁t": 9, "▁hit": 10 };
  const json = {
    version: "1.0",
    added_tokens: [
      { id: 0, content: "<unk>", special: true, single_word: false, lstrip: false, rstrip: false, normalized: false },
      { id: 1, content: "<s>", special: true, single_word: false, lstrip: false, rstrip: false, normalized: false },
      { id: 2, content: "</s>", special: true, single_word: false, lstrip: false, rstrip: false, normalized: false },
    ],
    normalizer: { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "▁" }, { type: "Replace", pattern: { String: " " }, content: "▁" }] },
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: "Sequence", decoders: [{ type: "Replace", pattern: { String: "▁" }, content: " " }, { type: "Fuse" }, { type: "Strip", content: " ", start: 1, stop: 0 }] },
    model: { type: "BPE", unk_token: "<unk>", fuse_unk: true, byte_fallback: false, vocab, merges: ["▁ h", "▁h i", "▁hi t", "▁ t"] },
  };
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(json));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ bos_token: "<s>", eos_token: "</s>" }));
  const tok = await loadTokenizer(dir);
  assert.deepEqual([tok.bosId, tok.eosId, tok.vocabSize], [1, 2, 11]);
  assert.deepEqual(tok.encode("hit hi"), [1, 10, 6]);
  assert.deepEqual(tok.encode("hi", { bos: false, eos: true }), [6, 2]);
  assert.equal(tok.decode([1, 10, 6, 2]), "hit hi");
});

test("tokenizers are found beside models; a missing one is a clear error", async () => {
  assert.equal(findTokenizerFor(LLAMA2C_MODEL), LLAMA2C_TOKENIZER); // tok512.bin beside stories260K.bin
  assert.equal(findTokenizerFor(HF_MODEL), undefined);
  const dir = tmp();
  copyFileSync(LLAMA2C_TOKENIZER, join(dir, "tokenizer.bin"));
  writeFileSync(join(dir, "model.bin"), "");
  assert.equal(findTokenizerFor(join(dir, "model.bin")), join(dir, "tokenizer.bin"));
  await assert.rejects(loadTokenizer(join(dir, "nope.json")), FileFormatError);
  await assert.rejects(loadTokenizer(tmp()), (e: Error) => e instanceof FileFormatError && /--tokenizer/.test(e.message));
});
