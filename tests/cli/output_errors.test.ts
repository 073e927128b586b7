// Unwritable outputs, malformed notebooks and an expired --timeout: one line saying what was
// expected and what was found, a non-zero exit, no stack trace; output paths refused before the
// work (quantizing, running cells, training) starts.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { codeCell, hasStackTrace, runCli, tempDir, writeNotebook, savedCells } from "./cli.js";

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));
const model = fileURLToPath(new URL("../../datasets/base-model", import.meta.url));
const aFile = join(dir, "a-file");
const aFolder = join(dir, "a-folder");
writeFileSync(aFile, "not a folder\n");
mkdirSync(aFolder);
const notebook = join(dir, "small.ipynb");
writeNotebook(notebook, [codeCell("1 + 1")]);
const original = readFileSync(notebook, "utf8");

/** One line on stderr, exit code 1, no stack trace, matching `message`. */
function assertRefused(run: Awaited<ReturnType<typeof runCli>>, message: RegExp): void {
  assert.equal(run.status, 1, `${run.stdout}${run.stderr}`);
  assert.equal(hasStackTrace(run.stderr), false, run.stderr);
  assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
  assert.match(run.stderr, message);
}

test("quantize refuses --out that is a folder or lies under a file, before quantizing", { timeout: 60_000 }, async () => {
  assertRefused(await runCli(["quantize", model, "--out", aFolder], { limitS: 30 }), /qlora-lab quantize: expected --out to name a file, got the folder .*a-folder\./);
  assertRefused(await runCli(["quantize", model, "--out", join(aFile, "x.safetensors")], { limitS: 30 }), /expected --out .*x\.safetensors to lie in a folder, got the file .*a-file in its path\./);
});

test("run refuses --out DIR, --html under a file and a cell whose source is a number, before starting the kernel", { timeout: 60_000 }, async () => {
  assertRefused(await runCli(["run", notebook, "--out", aFolder], { limitS: 30 }), /qlora-lab run: expected --out to name a file, got the folder/);
  assertRefused(await runCli(["run", notebook, "--html", join(aFile, "x.html")], { limitS: 30 }), /expected --html .*x\.html to lie in a folder, got the file .*a-file/);
  const numbered = join(dir, "numbered.ipynb");
  writeNotebook(numbered, [codeCell("1"), codeCell(5)]);
  assertRefused(await runCli(["run", numbered], { limitS: 30 }), /numbered\.ipynb: expected cell 2's source to be a string or a list of strings, got 5\./);
  const noCells = join(dir, "no-cells.ipynb");
  writeFileSync(noCells, "[1, 2]");
  assertRefused(await runCli(["run", noCells], { limitS: 30 }), /expected a notebook with a cells array, got an array\./);
  assert.equal(readFileSync(notebook, "utf8"), original, "a refused run leaves the notebook as it was");
});

test("compare refuses --adapters under a file before training starts", { timeout: 60_000 }, async () => {
  const run = await runCli(["compare", "--steps", "1", "--adapters", join(aFile, "sub")], { limitS: 30 });
  assertRefused(run, /qlora-lab compare: expected --adapters .*sub to lie in a folder, got the file .*a-file in its path\./);
  assert.doesNotMatch(run.stdout, /backend:/, "nothing was loaded or trained");
});

test("an expired --timeout saves the notebook with the outputs so far and exits non-zero with one line", { timeout: 120_000 }, async () => {
  const input = join(dir, "slow.ipynb");
  writeNotebook(input, [codeCell('console.log("quick"); 6 * 7'), codeCell('console.log("spinning");\nawait new Promise((r) => setTimeout(r, 1000));\nwhile (true) {}'), codeCell("3")]);
  const out = join(dir, "slow-out.ipynb");
  const html = join(dir, "no", "such", "dir", "slow.html"); // missing folders are created, as for --out
  const run = await runCli(["run", input, "--timeout", "8", "--out", out, "--html", html], { limitS: 90 });
  assert.equal(run.timedOut, false, run.stderr);
  assert.equal(run.status, 1, run.stderr);
  assert.equal(hasStackTrace(run.stderr), false, run.stderr);
  assert.equal(run.stderr.trim().split("\n").at(-1), "qlora-lab run: cell 2 failed: cell 2 ran longer than --timeout 8 s");
  const cells = savedCells(out);
  assert.equal(cells[0].outputs.at(-1).data["text/plain"], "42");
  assert.deepEqual(
    cells[1].outputs.map((o: { output_type: string; text?: string; ename?: string }) => o.text ?? o.ename),
    ["spinning\n", "RequestTimeoutError"],
  );
  assert.deepEqual(cells[2].outputs, []);
  assert.ok(existsSync(html), "the HTML page was written in the folders it needed");
});
