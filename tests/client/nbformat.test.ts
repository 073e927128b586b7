// A test notebook through Jupyter's nbconvert/nbclient and through `qlora-lab run`: same outputs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { jupyterPython, skipUnlessPythonModules } from "../helpers/jupyter.js";
import { installTemporaryKernel } from "../kernel/kernelspec.js";
import { markdownToHtml } from "../../client/nbformat.js";
import { savedCells } from "../cli/cli.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const fixture = fileURLToPath(new URL("./fixtures/smoke.ipynb", import.meta.url));
const cli = join(root, "bin/qlora-lab.js");

type Output = Record<string, unknown>;
/** nbformat stores multi-line strings as lists; compare the joined text. */
function normalise(outputs: Output[]): Output[] {
  const join = (v: unknown): unknown => (Array.isArray(v) ? v.join("") : v);
  return outputs.map((o) => {
    const copy: Output = { ...o };
    if ("text" in copy) copy.text = join(copy.text);
    if (copy.data) copy.data = Object.fromEntries(Object.entries(copy.data as Output).map(([k, v]) => [k, typeof v === "string" || Array.isArray(v) ? join(v) : v]));
    return Object.fromEntries(Object.entries(copy).sort(([a], [b]) => a.localeCompare(b)));
  });
}
const codeOutputs = (file: string) =>
  (JSON.parse(readFileSync(file, "utf8")).cells as { cell_type: string; outputs: Output[]; execution_count: number }[])
    .filter((c) => c.cell_type === "code")
    .map((c) => ({ count: c.execution_count, outputs: normalise(c.outputs) }));

test("qlora-lab run saves the same outputs as jupyter nbconvert --execute", { skip: skipUnlessPythonModules("nbclient", "nbconvert") }, () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-nb-"));
  const { jupyterPath, cleanup } = installTemporaryKernel();
  try {
    copyFileSync(fixture, join(dir, "smoke.ipynb"));
    const nbconvert = spawnSync(jupyterPython, ["-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", "smoke.ipynb", "--output", "by_nbconvert.ipynb", "--ExecutePreprocessor.timeout=600"], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, JUPYTER_PATH: jupyterPath },
      timeout: 900_000,
    });
    assert.equal(nbconvert.status, 0, nbconvert.stderr);
    const run = spawnSync(process.execPath, [cli, "run", "smoke.ipynb", "--out", "by_run.ipynb", "--html", "by_run.html"], { cwd: dir, encoding: "utf8", timeout: 900_000 });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /\[9\/9\] .* ok/);
    const expected = codeOutputs(join(dir, "by_nbconvert.ipynb"));
    assert.deepEqual(expected[0], { count: 1, outputs: [{ data: { "text/plain": "42" }, execution_count: 1, metadata: {}, output_type: "execute_result" }] });
    assert.deepEqual(codeOutputs(join(dir, "by_run.ipynb")), expected);
    const html = readFileSync(join(dir, "by_run.html"), "utf8");
    assert.match(html, /<h1>Kernel smoke notebook<\/h1>/);
    assert.match(html, /<i>after clear<\/i>/);
  } finally {
    cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("qlora-lab run exits non-zero at a failing cell, keeps its error, skips the rest, removes its connection file", () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-nb-"));
  try {
    const cell = (source: string) => ({ cell_type: "code", source, metadata: {}, outputs: [], execution_count: null });
    writeFileSync(join(dir, "bad.ipynb"), JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [cell("1 + 1"), cell("function f(): number {\n  throw new RangeError('nope');\n}\nf()"), cell("2 + 2")] }));
    const before = new Set(readdirTmp());
    const run = spawnSync(process.execPath, [cli, "run", "bad.ipynb"], { cwd: dir, encoding: "utf8", timeout: 600_000 });
    assert.equal(run.status, 1, run.stderr);
    const cells = savedCells(join(dir, "bad.nbconvert.ipynb"));
    assert.equal(cells[0].outputs[0].data["text/plain"], "2");
    const error = cells[1].outputs[0];
    assert.equal(error.output_type, "error");
    assert.equal(error.ename, "RangeError");
    assert.ok(error.traceback.some((line: string) => /In\[2\]:2:/.test(line)), `traceback names the cell's line 2: ${error.traceback.join("\n")}`);
    assert.deepEqual(cells[2].outputs, []);
    const leftovers = readdirTmp().filter((d) => !before.has(d) && d.startsWith("qlora-lab-run-"));
    assert.deepEqual(leftovers, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("markdown cells render headings, lists, code and emphasis", () => {
  const html = markdownToHtml("# Title\n\nSome *em* and **strong** with `a<b`.\n\n- one\n- two\n\n```ts\nconst x = 1 < 2;\n```");
  assert.match(html, /<h1>Title<\/h1>/);
  assert.match(html, /<em>em<\/em> and <strong>strong<\/strong> with <code>a&lt;b<\/code>/);
  assert.match(html, /<ul><li>one<\/li><li>two<\/li><\/ul>/);
  assert.match(html, /<pre><code>const x = 1 &lt; 2;<\/code><\/pre>/);
});

function readdirTmp(): string[] {
  return readdirSync(tmpdir());
}
