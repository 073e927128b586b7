// The committed lessons: each notebook matches its Markdown source, carries its outputs (charts as
// PNG), and names no machine's paths. Also checks the source format on small hand-made cases.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  NOTEBOOKS_DIR,
  diffLessonAndNotebook,
  findNotebookProblems,
  lessonToNotebook,
  parseLesson,
  readLesson,
  serializeNotebook,
  type Notebook,
} from "../../notebooks/lesson.js";
import { outputData } from "../../client/nbformat.js";
import { LESSONS, MAIN_LESSON } from "./helpers.js";

describe("lesson source format", () => {
  test("ts fences become code cells, prose between them markdown cells, other fences stay prose", () => {
    const lesson = parseLesson("x", "# Title\n\nIntro.\n\n```ts\nconst a = 1;\n\na + 1\n```\n\nRun this:\n\n```bash\nnpm run demo\n```\n<!-- cell -->\nMore.\n");
    assert.deepEqual(lesson.cells, [
      { cellType: "markdown", source: "# Title\n\nIntro." },
      { cellType: "code", source: "const a = 1;\n\na + 1" },
      { cellType: "markdown", source: "Run this:\n\n```bash\nnpm run demo\n```" },
      { cellType: "markdown", source: "More." },
    ]);
  });

  test("an unclosed or empty ts block is refused with the line", () => {
    assert.throws(() => parseLesson("x", "```ts\nconst a = 1;\n"), /closing/);
    assert.throws(() => parseLesson("x", "text\n```ts\n\n```\n"), /x\.md:4/);
  });

  test("a built notebook is nbformat 4.5 with stable cell ids and Jupyter's line-list sources", () => {
    const nb = lessonToNotebook(parseLesson("x", "# T\n\n```ts\nconst a = 1;\na\n```\n"));
    const text = serializeNotebook(nb);
    const parsed = JSON.parse(text) as Notebook;
    assert.equal(parsed.nbformat, 4);
    assert.equal(parsed.nbformat_minor, 5);
    assert.deepEqual(parsed.cells.map((c) => c.id), ["md-01", "code-02"]);
    assert.deepEqual(parsed.cells[1]!.source, ["const a = 1;\n", "a"]);
    assert.equal(text, serializeNotebook(parsed), "serializing is idempotent");
    assert.deepEqual(diffLessonAndNotebook(parseLesson("x", "# T\n\n```ts\nconst a = 1;\na\n```\n"), parsed), []);
    assert.equal(diffLessonAndNotebook(parseLesson("x", "# T\n\n```ts\nconst a = 2;\na\n```\n"), parsed).length, 1);
  });

  test("problems: errors, unexecuted cells, stderr and machine paths are found", () => {
    const nb = lessonToNotebook(parseLesson("x", "```ts\na\n```\n```ts\nb\n```\n```ts\nc\n```\n```ts\nd\n```\n"));
    nb.cells[0]!.execution_count = 1;
    nb.cells[0]!.outputs = [{ output_type: "error", ename: "TypeError", evalue: "boom", traceback: [] }];
    nb.cells[2]!.execution_count = 3;
    nb.cells[2]!.outputs = [{ output_type: "stream", name: "stdout", text: "saved to /tmp/x/adapter\n" }];
    nb.cells[3]!.execution_count = 4;
    nb.cells[3]!.outputs = [{ output_type: "stream", name: "stderr", text: "warning\n" }];
    const problems = findNotebookProblems(nb);
    assert.equal(problems.length, 4, problems.join("\n"));
    assert.match(problems.join("\n"), /TypeError: boom[\s\S]*not executed[\s\S]*machine path[\s\S]*stderr/);
    assert.equal(findNotebookProblems(nb, { machinePaths: false, stderr: false }).length, 2);
  });
});

describe("committed notebooks", () => {
  test("every lesson has a source and a notebook", () => {
    assert.ok(LESSONS.includes(MAIN_LESSON), `expected notebooks/src/${MAIN_LESSON}.md`);
    for (const name of LESSONS) assert.ok(existsSync(join(NOTEBOOKS_DIR, `${name}.ipynb`)), `missing notebooks/${name}.ipynb (run notebooks/build.ts ${name})`);
  });

  for (const name of LESSONS) {
    test(`${name}.ipynb matches its source, is executed, shows its charts, and names no machine path`, () => {
      const path = join(NOTEBOOKS_DIR, `${name}.ipynb`);
      assert.ok(existsSync(path), `missing notebooks/${name}.ipynb`);
      const text = readFileSync(path, "utf8");
      const nb = JSON.parse(text) as Notebook;
      assert.deepEqual(diffLessonAndNotebook(readLesson(name), nb), []);
      assert.deepEqual(findNotebookProblems(nb), []);
      assert.equal(text, serializeNotebook(nb), "saved in the normalised form notebooks/build.ts writes");
      const pngs = nb.cells.flatMap((c) => c.outputs ?? []).filter((o) => typeof outputData(o)["image/png"] === "string");
      assert.ok(pngs.length >= 1, `${name}: expected at least one chart saved as image/png, for readers on GitHub`);
    });
  }
});
