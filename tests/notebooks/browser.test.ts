// End to end in a real browser: Debian's classic Jupyter Notebook serves lesson 01 with the kernel
// registered by `qlora-lab install --prefix`; headless Chromium (playwright-core) runs every cell from
// the Cell menu and the test asserts on the page: the loss chart, the comparison table, no errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { jupyterRequired } from "../helpers/jupyter.js";
import { CHROMIUM, JUPYTER_NOTEBOOK, runNotebookInBrowser } from "./browser_driver.js";
import { MAIN_LESSON, NOTEBOOK_LIMIT_S, makeWorkspace } from "./helpers.js";

function skipReason(): string | false {
  const missing = [JUPYTER_NOTEBOOK, CHROMIUM].filter((p) => !existsSync(p));
  if (missing.length === 0) return false;
  const reason = `missing ${missing.join(", ")} (Debian packages jupyter-notebook, chromium)`;
  if (jupyterRequired) throw new Error(`${reason}; required because CI=true or QLORA_LAB_REQUIRE_JUPYTER=1`);
  return reason;
}

test(`${MAIN_LESSON} runs in Jupyter Notebook in Chromium and shows the loss chart and the comparison table`, { skip: skipReason() }, async (t) => {
  const ws = makeWorkspace([MAIN_LESSON]);
  // Kept for a person to look at when QLORA_LAB_SCREENSHOT_DIR is set; otherwise removed with the workspace.
  const shots = process.env.QLORA_LAB_SCREENSHOT_DIR ?? join(ws.root, "screenshots");
  mkdirSync(shots, { recursive: true });
  try {
    const kernels = readdirSync(join(ws.prefix, "share", "jupyter", "kernels"));
    assert.equal(kernels.length, 1, `expected one kernelspec from qlora-lab install, got ${kernels.join(", ")}`);
    const kernelName = kernels[0]!;
    const spec = JSON.parse(readFileSync(join(ws.prefix, "share", "jupyter", "kernels", kernelName, "kernel.json"), "utf8")) as { display_name: string };

    const result = await runNotebookInBrowser({
      root: ws.root,
      notebook: `notebooks/${MAIN_LESSON}.ipynb`,
      kernelName,
      kernelDisplayName: spec.display_name,
      env: ws.env,
      screenshot: join(shots, `${MAIN_LESSON}.png`),
      limitS: NOTEBOOK_LIMIT_S,
      log: (line) => t.diagnostic(line),
    });
    t.diagnostic(`screenshot: ${result.screenshot}`);
    console.log(`notebook time (browser): ${MAIN_LESSON} ${result.seconds.toFixed(1)} s`);

    assert.equal(result.kernelShown, spec.display_name, "the qlora-lab kernel is the one selected");
    assert.deepEqual(result.errors, [], "no cell shows an error");
    assert.deepEqual(result.stderr, [], "no cell writes to stderr");
    assert.ok(result.codeCells > 0);
    assert.ok(
      result.prompts.every((p) => /^In\s*\[\d+\]:$/.test(p)),
      `every code cell ran: ${result.prompts.join(" ")}`,
    );

    // Charts arrive as image/png bundles: decoded images of a real size, not broken icons.
    const charts = result.images.filter((img) => img.src.startsWith("data:image/png") && img.naturalWidth >= 200 && img.naturalHeight >= 100 && img.width >= 200);
    // Lesson 01 draws at least four: the live loss chart, the memory map, the ladder charts and the planner.
    assert.ok(charts.length >= 4, `expected the loss charts, the memory map and the planner chart as PNG images, got ${JSON.stringify(result.images)}`);

    // The comparison table: one row for LoRA, one for QLoRA.
    const comparison = result.tables.find((table) => table.rows.some((r) => r.includes("LoRA")) && table.rows.some((r) => r.includes("QLoRA")));
    assert.ok(comparison, `expected a table with LoRA and QLoRA rows, got ${JSON.stringify(result.tables.map((x) => x.rows.slice(0, 3)))}`);
    assert.ok(comparison.rows.length >= 3, "header + LoRA + QLoRA rows");
    const header = comparison.rows[0]!;
    for (const column of ["base weights", "peak memory", "eval loss", "exact match", "train tokens/s"]) {
      assert.ok(header.includes(column), `the comparison table has a "${column}" column: ${header.join(" | ")}`);
    }
    // The planner's table for 7B and 70B follows the measured one.
    assert.ok(result.tables.some((table) => table.rows.some((r) => r.includes("70B"))), "the planner table for 7B and 70B is shown");
  } finally {
    rmSync(ws.root, { recursive: true, force: true });
  }
});
