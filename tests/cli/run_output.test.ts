// Where `qlora-lab run` saves, as `jupyter nbconvert --to notebook --execute` does: beside the input
// as NAME.nbconvert.ipynb, over the input only with --inplace; cells that did not run (after a
// failing one) keep no outputs or execution counts from an older run.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { codeCell, hasStackTrace, runCli, tempDir, writeNotebook, savedCells } from "./cli.js";

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

const stale = { outputs: [{ output_type: "execute_result", data: { "text/plain": "old" }, metadata: {}, execution_count: 99 }], execution_count: 99 };
const cells = () => [codeCell("1 + 1", stale), codeCell('throw new Error("boom")', stale), codeCell("3 + 3", stale)];

/** The saved code cells' execution counts and first text/plain or error name. */
function summary(path: string): Array<[number | null, string | undefined]> {
  return savedCells(path).map((c: { execution_count: number | null; outputs: Array<{ data?: Record<string, string>; ename?: string }> }) => [
    c.execution_count,
    c.outputs[0]?.data?.["text/plain"] ?? c.outputs[0]?.ename,
  ]);
}

test("by default run writes NAME.nbconvert.ipynb beside the input, leaves the input alone and clears cells that did not run", { timeout: 120_000 }, async () => {
  const input = join(dir, "lesson.ipynb");
  writeNotebook(input, cells());
  const before = readFileSync(input, "utf8");
  const run = await runCli(["run", input], { limitS: 90 });
  assert.equal(run.status, 1, run.stderr);
  assert.equal(hasStackTrace(run.stderr), false, run.stderr);
  assert.match(run.stderr, /wrote .*lesson\.nbconvert\.ipynb/);
  assert.equal(readFileSync(input, "utf8"), before, "the input notebook is unchanged");
  assert.deepEqual(summary(join(dir, "lesson.nbconvert.ipynb")), [
    [1, "2"],
    [2, "Error"],
    [null, undefined],
  ]);
});

test("--inplace writes over the input; --out with --inplace is refused", { timeout: 120_000 }, async () => {
  const input = join(dir, "inplace.ipynb");
  writeNotebook(input, cells());
  const both = await runCli(["run", input, "--inplace", "--out", join(dir, "x.ipynb")], { limitS: 30 });
  assert.equal(both.status, 1);
  assert.match(both.stderr, /^qlora-lab run: expected either --out FILE or --inplace, got both\.\n$/);
  const run = await runCli(["run", input, "--inplace"], { limitS: 90 });
  assert.equal(run.status, 1, run.stderr);
  assert.deepEqual(summary(input), [
    [1, "2"],
    [2, "Error"],
    [null, undefined],
  ]);
});

test("run --help names the default output and --inplace", { timeout: 30_000 }, async () => {
  const help = await runCli(["run", "--help"], { limitS: 20 });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /NOTEBOOK\.nbconvert\.ipynb/);
  assert.match(help.stdout, /--inplace/);
});
