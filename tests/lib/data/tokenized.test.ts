// Pre-tokenized JSON Lines: {input_ids, labels?} rows read as they are, every defect named with its
// file and line, and the detection that tells them from prompt/response or text records.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadTokenizedJsonl, looksTokenized } from "../../../lib/data/index.js";

const dir = mkdtempSync(join(tmpdir(), "qlora-tokenized-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test("rows with and without labels load, blank lines skipped, each with its line", () => {
  const path = file("ok.jsonl", '{"input_ids": [1, 4, 5]}\n\n{"input_ids": [1, 6], "labels": [-100, 6], "attention_mask": [1, 1]}\n');
  const loaded = loadTokenizedJsonl(path);
  assert.deepEqual(loaded.rows, [{ inputIds: [1, 4, 5] }, { inputIds: [1, 6], labels: [-100, 6] }]);
  assert.deepEqual(loaded.sources.map((s) => s.line), [1, 3]);
  assert.equal(looksTokenized('{"input_ids": [1]}\n'), true);
  assert.equal(looksTokenized('{"prompt": "a", "response": "b"}\n'), false);
  assert.equal(looksTokenized("plain text\n"), false);
});

test("defects are refused with the file, line and what was found", () => {
  const short = file("short.jsonl", '{"input_ids": [1]}\n');
  assert.throws(() => loadTokenizedJsonl(short), { message: `loadTokenizedJsonl: expected "input_ids" of at least 2 integers >= 0 at ${short}:1, got [1] (1).` });
  const range = file("range.jsonl", '{"input_ids": [1, 2]}\n{"input_ids": [1, 512]}\n');
  assert.throws(() => loadTokenizedJsonl(range, { vocabSize: 512 }), { message: `loadTokenizedJsonl: expected "input_ids" of at least 2 integers in [0, 512) at ${range}:2, got [1, 512] (2).` });
  const labels = file("labels.jsonl", '{"input_ids": [1, 2], "labels": [-1, 2]}\n');
  assert.throws(() => loadTokenizedJsonl(labels), { message: `loadTokenizedJsonl: expected "labels" as long as "input_ids" (2), each -100 or one of the integers >= 0, at ${labels}:1, got -1 at position 0.` });
  const broken = file("broken.jsonl", '{"input_ids": [1, 2\n');
  assert.throws(() => loadTokenizedJsonl(broken), (e: Error) => e.message.startsWith(`loadTokenizedJsonl: expected one JSON object per line in ${broken}:1, got `));
  assert.throws(() => loadTokenizedJsonl(file("empty.jsonl", "\n")), /expected at least one row in .*empty\.jsonl, got an empty file\./);
});
