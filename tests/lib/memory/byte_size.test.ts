// Budget sizes as people type them: binary and decimal units, decimals, spaces, bare bytes; and a clear
// one-line refusal of anything else, including the ambiguous "8G".
import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../lib/errors.js";
import { budgetBytes, parseByteSize } from "../../../lib/memory/index.js";

test("sizes in binary and decimal units", () => {
  const cases: Array<[string, number]> = [
    ["8GiB", 8 * 2 ** 30], ["512MiB", 512 * 2 ** 20], ["8GB", 8e9], ["1.5 GiB", 1.5 * 2 ** 30], ["64kib", 65536], ["2TB", 2e12], ["4096", 4096], ["100 B", 100], [" 3 MB ", 3e6], [".5GiB", 2 ** 29],
  ];
  for (const [text, bytes] of cases) assert.equal(parseByteSize(text, "--budget"), bytes, text);
  assert.equal(budgetBytes(1234, "train"), 1234);
  assert.equal(budgetBytes("1KiB", "train"), 1024);
});

test("anything else is refused in one line naming what was expected and what was found", () => {
  const refuse = (text: unknown, message: RegExp) => assert.throws(() => parseByteSize(text as string, "qlora-lab compare --budget"), (e: Error) => e instanceof InvalidArgumentError && !e.message.includes("\n") && message.test(e.message), String(text));
  refuse("8 apples", /^qlora-lab compare --budget: expected a size such as "8GiB", "512MiB" or "8GB", got "8 apples"\. Units: B, KiB, MiB, GiB, TiB \(1024-based\) or KB, MB, GB, TB \(1000-based\)\.$/);
  refuse("8G", /got "8G"\. "G" alone could mean GiB \(1024-based\) or GB \(1000-based\); write one of them\.$/);
  refuse("", /got ""/);
  refuse("-1GiB", /got "-1GiB"/);
  refuse("0GiB", /more than 0 bytes, got "0GiB"/);
  refuse("GiB", /got "GiB"/);
  assert.throws(() => budgetBytes(-5, "train"), /train: expected a budget in bytes \(a positive integer\) or a size such as "8GiB", got -5\./);
  assert.throws(() => budgetBytes(1.5, "train"), /got 1\.5\./);
});
