// `qlora-lab run` when the kernel process dies under a cell (SIGKILL as the OOM killer sends it, SIGABRT
// as V8 ends a process out of heap): it must exit non-zero within seconds and save what it has.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { codeCell, hasStackTrace, runCli, tempDir, writeNotebook, savedCells } from "./cli.js";

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));

for (const [how, kill] of [
  ["killed by SIGKILL", 'console.log("going"); process.kill(process.pid, "SIGKILL")'],
  ["aborted (SIGABRT)", 'console.log("going"); process.abort()'],
] as const) {
  test(`run stops, saves the outputs so far and exits non-zero when the kernel is ${how}`, { timeout: 120_000 }, async () => {
    const input = join(dir, `death-${how.split(" ")[0]}.ipynb`);
    const out = join(dir, `death-${how.split(" ")[0]}.out.ipynb`);
    writeNotebook(input, [codeCell('console.log("first"); 6 * 7'), codeCell(kill), codeCell("1 + 1")]);
    const run = await runCli(["run", input, "--out", out], { limitS: 90 });
    assert.equal(run.timedOut, false, `run hung after the kernel died:\n${run.stderr}`);
    assert.notEqual(run.status, 0, run.stderr);
    const reason = how.startsWith("killed") ? "signal SIGKILL" : "signal SIGABRT";
    assert.match(run.stderr, new RegExp(`cell 2 failed: .*the kernel died \\(${reason}\\)`));
    assert.equal(hasStackTrace(run.stderr), false, run.stderr);
    const cells = savedCells(out);
    assert.equal(cells[0].execution_count, 1);
    assert.deepEqual(
      cells[0].outputs.map((o: { output_type: string }) => o.output_type),
      ["stream", "execute_result"],
    );
    assert.equal(cells[0].outputs[1].data["text/plain"], "42");
    const last = cells[1].outputs.at(-1);
    assert.equal(last.output_type, "error");
    assert.match(last.evalue, new RegExp(`the kernel died \\(${reason}\\)`));
    assert.deepEqual(cells[2].outputs, []);
  });
}
