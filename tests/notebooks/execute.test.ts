// Executes every lesson with Jupyter's own client (Debian's nbconvert/nbclient) through the kernel
// registered by `qlora-lab install --prefix`, and the main lesson also with `qlora-lab run`.
// Each notebook must finish without an error within NOTEBOOK_LIMIT_S (5 minutes on two cores).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { outputData } from "../../client/nbformat.js";
import { findNotebookProblems, type Notebook } from "../../notebooks/lesson.js";
import { jupyterPython, skipUnlessPythonModules } from "../helpers/jupyter.js";
import { CLI, LESSONS, MAIN_LESSON, NOTEBOOK_LIMIT_S, makeWorkspace, runTimed, type NotebookWorkspace } from "./helpers.js";

const skip = skipUnlessPythonModules("nbconvert", "nbclient");

/** Every output MIME type in a notebook, with counts. */
function mimeCounts(nb: Notebook): Map<string, number> {
  const counts = new Map<string, number>();
  for (const cell of nb.cells) {
    for (const output of cell.outputs ?? []) {
      for (const mime of Object.keys(outputData(output))) counts.set(mime, (counts.get(mime) ?? 0) + 1);
    }
  }
  return counts;
}

/** The text of every text/html output, joined. */
function htmlOutputs(nb: Notebook): string {
  return nb.cells
    .flatMap((c) => c.outputs ?? [])
    .map((o) => outputData(o)["text/html"])
    .filter((h) => h !== undefined)
    .map((h) => (Array.isArray(h) ? h.join("") : String(h)))
    .join("\n");
}

describe("every notebook runs under Jupyter's nbconvert", { skip }, () => {
  let ws: NotebookWorkspace;
  const times: string[] = [];
  before(() => {
    ws = makeWorkspace();
  });
  after(() => {
    if (times.length > 0) console.log(`notebook times (nbconvert): ${times.join(", ")}`);
    if (ws) rmSync(ws.root, { recursive: true, force: true });
  });

  for (const name of LESSONS) {
    test(`${name} executes without errors in under ${NOTEBOOK_LIMIT_S} s`, async (t) => {
      const run = await runTimed(
        jupyterPython,
        ["-m", "nbconvert", "--to", "notebook", "--execute", `--ExecutePreprocessor.timeout=${NOTEBOOK_LIMIT_S}`, "--output", `${name}.out.ipynb`, `${name}.ipynb`],
        { cwd: ws.notebooks, env: ws.env, limitS: NOTEBOOK_LIMIT_S + 30 },
      );
      times.push(`${name} ${run.seconds.toFixed(1)} s`);
      t.diagnostic(`${name}: ${run.seconds.toFixed(1)} s with nbconvert`);
      assert.equal(run.timedOut, false, `${name} did not finish within ${NOTEBOOK_LIMIT_S + 30} s:\n${run.output}`);
      assert.equal(run.code, 0, `nbconvert failed on ${name}:\n${run.output}`);
      const nb = JSON.parse(readFileSync(join(ws.notebooks, `${name}.out.ipynb`), "utf8")) as Notebook;
      assert.deepEqual(findNotebookProblems(nb, { machinePaths: false }), []);
      assert.ok(nb.cells.some((c) => (c.outputs ?? []).length > 0), `${name} produced no output at all`);
      assert.ok(run.seconds < NOTEBOOK_LIMIT_S, `${name} took ${run.seconds.toFixed(1)} s (limit ${NOTEBOOK_LIMIT_S} s)`);
    });
  }
});

describe(`${MAIN_LESSON} runs under qlora-lab run (the demo command)`, () => {
  test("writes the executed notebook and an HTML report with the loss chart and the comparison table", async (t) => {
    const ws = makeWorkspace([MAIN_LESSON]);
    try {
      const out = join(ws.root, "out", `${MAIN_LESSON}.ipynb`);
      const html = join(ws.root, "out", `${MAIN_LESSON}.html`);
      const run = await runTimed(process.execPath, [CLI, "run", join("notebooks", `${MAIN_LESSON}.ipynb`), "--out", out, "--html", html], {
        cwd: ws.root,
        env: ws.env,
        limitS: NOTEBOOK_LIMIT_S + 30,
      });
      t.diagnostic(`${MAIN_LESSON}: ${run.seconds.toFixed(1)} s with qlora-lab run`);
      console.log(`notebook time (qlora-lab run): ${MAIN_LESSON} ${run.seconds.toFixed(1)} s`);
      assert.equal(run.timedOut, false, `qlora-lab run did not finish:\n${run.output}`);
      assert.equal(run.code, 0, `qlora-lab run failed:\n${run.output}`);
      const nb = JSON.parse(readFileSync(out, "utf8")) as Notebook;
      assert.deepEqual(findNotebookProblems(nb, { machinePaths: false }), []);
      const mimes = mimeCounts(nb);
      assert.ok((mimes.get("image/png") ?? 0) >= 4, `expected the loss chart, the memory map, the ladder charts and the planner chart as PNGs, got ${JSON.stringify([...mimes])}`);
      const tables = htmlOutputs(nb);
      assert.match(tables, /<table[\s\S]*QLoRA[\s\S]*<\/table>/, "expected an HTML comparison table naming QLoRA");
      const report = readFileSync(html, "utf8");
      assert.match(report, /<img[^>]+src="data:image\/png;base64,/, "the HTML report should embed the charts as PNG");
      assert.match(report, /<table[\s\S]*QLoRA/, "the HTML report should contain the comparison table");
    } finally {
      rmSync(ws.root, { recursive: true, force: true });
    }
  });
});
