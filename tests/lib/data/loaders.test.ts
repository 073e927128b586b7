// Loaders for users' data: JSONL, CSV (arquero), plain text, the shipped tasks, and errors that
// name the file and line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCsv, loadDataset, loadJsonl, loadText, loadTask, shippedTaskNames, loadCorpus, FileFormatError } from "../../../lib/index.js";

function scratch(): { dir: string; write(name: string, text: string): string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), "qlora-data-"));
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
}

test("loadJsonl reads prompt/response and text lines, skipping blank lines", () => {
  const s = scratch();
  try {
    const path = s.write("a.jsonl", '{"prompt":"Q: hi\\nA:","response":" yes"}\n\n{"text":"Once upon a time."}\r\n');
    const loaded = loadJsonl(path);
    assert.deepEqual(loaded.examples, [{ prompt: "Q: hi\nA:", response: " yes" }, { text: "Once upon a time." }]);
    assert.deepEqual(loaded.sources.map((x) => x.line), [1, 3]);
    const renamed = loadJsonl(s.write("b.jsonl", '{"instruction":"a","output":"b"}\n'), { promptField: "instruction", responseField: "output" });
    assert.deepEqual(renamed.examples, [{ prompt: "a", response: "b" }]);
  } finally {
    s.done();
  }
});

test("a corrupt JSONL line is reported with its file and line number", () => {
  const s = scratch();
  try {
    const path = s.write("bad.jsonl", '{"prompt":"a","response":"b"}\n{"prompt":"c","response":"d"}\n{"prompt":"e","resp\n');
    assert.throws(() => loadJsonl(path), (e: Error) => e instanceof FileFormatError && e.message.includes(`${path}:3`) && e.message.startsWith("loadJsonl: expected"));
    const missing = s.write("missing.jsonl", '{"prompt":"a","response":"b"}\n{"prompt":"c"}\n');
    assert.throws(() => loadJsonl(missing), (e: Error) => e instanceof FileFormatError && e.message.includes(`${missing}:2`) && e.message.includes('"response"'));
    const wrongKeys = s.write("keys.jsonl", '{"question":"a","answer":"b"}\n');
    assert.throws(() => loadJsonl(wrongKeys), (e: Error) => e.message.includes(`${wrongKeys}:1`) && e.message.includes('"question"'));
    const array = s.write("array.jsonl", '["a","b"]\n');
    assert.throws(() => loadJsonl(array), (e: Error) => e.message.includes(`${array}:1`));
  } finally {
    s.done();
  }
});

test("a missing file or a folder is reported by path", () => {
  const s = scratch();
  try {
    const path = join(s.dir, "nope.jsonl");
    assert.throws(() => loadJsonl(path), (e: Error) => e instanceof FileFormatError && e.message.includes(path) && e.message.includes("no such file"));
    assert.throws(() => loadDataset(s.dir + "/"), (e: Error) => e instanceof FileFormatError);
    mkdirSync(join(s.dir, "d.csv"));
    assert.throws(() => loadCsv(join(s.dir, "d.csv")), (e: Error) => e.message.includes("a folder"));
  } finally {
    s.done();
  }
});

test("loadCsv reads quoted multi-line cells through arquero and names the line of a bad row", () => {
  const s = scratch();
  try {
    const path = s.write("a.csv", 'prompt,response\n"Who, then?\nA:", Tom\nplain,"say ""hi"""\n');
    const loaded = loadCsv(path);
    assert.deepEqual(loaded.examples, [{ prompt: "Who, then?\nA:", response: " Tom" }, { prompt: "plain", response: 'say "hi"' }]);
    assert.deepEqual(loaded.sources.map((x) => x.line), [2, 4]);
    const numbers = loadCsv(s.write("n.csv", "text\n0123\n"));
    assert.deepEqual(numbers.examples, [{ text: "0123" }], "cells stay strings");
    const bad = s.write("bad.csv", 'prompt,response\na,b\n"c\nd",e\nf\n');
    assert.throws(() => loadCsv(bad), (e: Error) => e instanceof FileFormatError && e.message.includes(`${bad}:5`));
    const header = s.write("h.csv", "question,answer\na,b\n");
    assert.throws(() => loadCsv(header), (e: Error) => e.message.includes(`${header}:1`) && e.message.includes('"question"'));
    const quote = s.write("q.csv", 'text\nok\n"never closed\nmore\n');
    assert.throws(() => loadCsv(quote), (e: Error) => e.message.includes("unclosed quote starting at line 3"));
    const tsv = s.write("t.tsv", "prompt\tresponse\na,b\tc\n");
    assert.deepEqual(loadDataset(tsv).examples, [{ prompt: "a,b", response: "c" }]);
  } finally {
    s.done();
  }
});

test("loadText splits by paragraph, line or file", () => {
  const s = scratch();
  try {
    const path = s.write("a.txt", "One story.\nStill one.\n\n\nTwo.\n");
    assert.deepEqual(loadText(path).examples, [{ text: "One story.\nStill one." }, { text: "Two." }]);
    assert.deepEqual(loadText(path).sources.map((x) => x.line), [1, 5]);
    assert.equal(loadText(path, { split: "line" }).examples.length, 3);
    assert.equal(loadText(path, { split: "file" }).examples.length, 1);
    assert.throws(() => loadText(s.write("e.txt", "\n\n")), (e: Error) => e instanceof FileFormatError && e.message.includes("e.txt"));
    const latin1 = s.write("l.txt", "");
    writeFileSync(latin1, Buffer.from([0x6f, 0x6b, 0x0a, 0x63, 0x61, 0x66, 0xe9, 0x0a]));
    assert.throws(() => loadText(latin1), (e: Error) => e.message.includes("line 2"));
  } finally {
    s.done();
  }
});

test("the shipped tasks load with disjoint train and eval splits, and the corpus is stories", () => {
  const names = shippedTaskNames();
  for (const required of ["qa", "reverse"]) assert.ok(names.includes(required), `task ${required} is shipped`);
  for (const name of names) {
    const task = loadTask(name);
    assert.ok(task.train.length >= 1000 && task.eval.length >= 100, `${name} sizes`);
    const trainPrompts = new Set(task.train.map((e) => e.prompt));
    assert.equal(task.eval.filter((e) => trainPrompts.has(e.prompt)).length, 0, `${name}: eval prompts are unseen`);
    assert.ok(task.metric.maxNewTokens >= 2);
  }
  const qa = loadTask("qa").eval[0]!;
  const names3 = qa.prompt.split("\n")[0]!.split(". ").map((sentence) => sentence.split(" ")[0]);
  assert.ok(names3.includes(qa.response.trim()), "the qa answer is one of the scene's names");
  const corpus = loadCorpus();
  assert.ok(corpus.length >= 1000);
  assert.ok(corpus.every((e) => /^[A-Z"]/.test(e.text) && /[.!"]$/.test(e.text)));
});
