// End to end in JupyterLab 4: it serves lesson 01 with the kernel registered by `qlora-lab install
// --prefix`; headless Chromium runs every cell from the Run menu, and the test asserts on the page that
// each Vega-Lite output was drawn by JupyterLab's own Vega renderer (not only shown as its PNG fallback),
// as many as the saved notebook holds, with the comparison table and no errors. The counts come from the
// notebook's own saved outputs, so the test follows the lesson as it changes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CHROMIUM } from "./browser_driver.js";
import { JUPYTER_LAB, runNotebookInJupyterLab } from "./jupyterlab_driver.js";
import { MAIN_LESSON, NOTEBOOK_LIMIT_S, makeWorkspace } from "./helpers.js";

const VEGALITE = "application/vnd.vegalite.v5+json";

/**
 * JupyterLab is not a Debian package: `.ci/run` installs it into a venv with pip where pip can, and
 * exports QLORA_LAB_JUPYTER_LAB when it did. Without it the test skips (the classic notebook test still
 * runs), except in CI after a successful install, where anything missing is a failure.
 */
function skipReason(): string | false {
  const mustRun = process.env.CI === "true" && process.env.QLORA_LAB_JUPYTER_LAB !== undefined;
  const fail = (reason: string) => {
    if (mustRun) throw new Error(`${reason}; required because CI=true and .ci/run installed JupyterLab (QLORA_LAB_JUPYTER_LAB)`);
    return reason;
  };
  if (!existsSync(CHROMIUM)) return fail(`missing ${CHROMIUM} (Debian package chromium)`);
  if (!existsSync(JUPYTER_LAB)) return fail(`missing ${JUPYTER_LAB} (JupyterLab 4, which .ci/run installs with pip into a venv; QLORA_LAB_JUPYTER_LAB names another)`);
  const version = spawnSync(JUPYTER_LAB, ["--version"], { encoding: "utf8" });
  const found = (version.stdout ?? "").trim();
  if (version.status !== 0 || !found.startsWith("4.")) return fail(`${JUPYTER_LAB} --version: expected JupyterLab 4.x, got ${JSON.stringify(found || version.stderr || String(version.error))}`);
  return false;
}

interface SavedOutput {
  output_type: string;
  data?: Record<string, unknown>;
}

/** What the saved notebook's outputs hold: the run in the browser must show as much. */
function savedOutputs(path: string): { vegaLite: number; pngOnly: number; tables: number } {
  const notebook = JSON.parse(readFileSync(path, "utf8")) as { cells: { cell_type: string; outputs?: SavedOutput[] }[] };
  const bundles = notebook.cells.flatMap((cell) => cell.outputs ?? []).flatMap((output) => (output.data ? [output.data] : []));
  const html = (data: Record<string, unknown>) => {
    const value = data["text/html"];
    return Array.isArray(value) ? value.join("") : typeof value === "string" ? value : "";
  };
  return {
    vegaLite: bundles.filter((data) => VEGALITE in data).length,
    pngOnly: bundles.filter((data) => "image/png" in data && !(VEGALITE in data)).length,
    tables: bundles.reduce((sum, data) => sum + (html(data).match(/<table[\s>]/g)?.length ?? 0), 0),
  };
}

test(`${MAIN_LESSON} runs in JupyterLab 4 in Chromium, which draws every Vega-Lite chart itself`, { skip: skipReason() }, async (t) => {
  const ws = makeWorkspace([MAIN_LESSON]);
  // Kept for a person to look at when QLORA_LAB_SCREENSHOT_DIR is set; otherwise removed with the workspace.
  const shots = process.env.QLORA_LAB_SCREENSHOT_DIR ?? join(ws.root, "screenshots");
  mkdirSync(shots, { recursive: true });
  try {
    const notebook = `notebooks/${MAIN_LESSON}.ipynb`;
    const saved = savedOutputs(join(ws.root, notebook));
    assert.ok(saved.vegaLite > 0, `expected the saved ${notebook} to hold Vega-Lite outputs, got none`);
    const kernels = readdirSync(join(ws.prefix, "share", "jupyter", "kernels"));
    assert.equal(kernels.length, 1, `expected one kernelspec from qlora-lab install, got ${kernels.join(", ")}`);
    const spec = JSON.parse(readFileSync(join(ws.prefix, "share", "jupyter", "kernels", kernels[0]!, "kernel.json"), "utf8")) as { display_name: string };

    const result = await runNotebookInJupyterLab({
      root: ws.root,
      notebook,
      kernelDisplayName: spec.display_name,
      env: ws.env,
      screenshots: shots,
      name: MAIN_LESSON,
      limitS: NOTEBOOK_LIMIT_S,
      log: (line) => t.diagnostic(line),
    });
    for (const shot of result.screenshots) t.diagnostic(`screenshot: ${shot}`);
    if (result.pageErrors.length > 0) t.diagnostic(`page errors: ${result.pageErrors.join(" | ")}`);
    console.log(`notebook time (JupyterLab): ${MAIN_LESSON} ${result.seconds.toFixed(1)} s`);

    assert.equal(result.kernelShown, spec.display_name, "the qlora-lab kernel is the one selected");
    assert.deepEqual(result.errors, [], "no cell shows an error");
    assert.deepEqual(result.stderr, [], "no cell writes to stderr");
    assert.ok(result.codeCells > 0);
    assert.ok(result.prompts.every((p) => /^\[\d+\]:$/.test(p)), `every code cell ran: ${result.prompts.join(" ")}`);

    // Every Vega-Lite output drawn by JupyterLab's renderer: a chart of a real size with marks in it.
    assert.equal(result.vega.length, saved.vegaLite, `expected as many Vega-Lite outputs as the saved notebook holds (${saved.vegaLite}), got ${result.vega.length}`);
    for (const [index, chart] of result.vega.entries()) {
      const which = `Vega-Lite output ${index + 1} of ${result.vega.length}`;
      assert.notEqual(chart.drawnAs, "none", `${which}: expected an SVG or canvas drawn by vega-embed, got none`);
      assert.ok(chart.width >= 200 && chart.height >= 100, `${which}: expected a chart at least 200 x 100 px, got ${chart.width} x ${chart.height}`);
      assert.ok(chart.ink >= 10, `${which}: expected a drawn chart (10 or more ${chart.drawnAs === "svg" ? "marks" : "colours"}), got ${chart.ink}`);
    }
    // JupyterLab prefers the Vega-Lite MIME type, so the only PNGs on the page are outputs that were PNG alone.
    assert.equal(result.pngOutputs, saved.pngOnly, `expected only the saved notebook's PNG-only outputs (${saved.pngOnly}) as PNG images, got ${result.pngOutputs}`);

    // The tables, among them the measured comparison: a LoRA row and a QLoRA row.
    assert.equal(result.tables.length, saved.tables, `expected as many HTML tables as the saved notebook holds (${saved.tables}), got ${result.tables.length}`);
    const isQlora = (row: string[]) => row.some((cell) => cell.includes("QLoRA"));
    const isLora = (row: string[]) => row.some((cell) => cell.includes("LoRA")) && !isQlora(row);
    assert.ok(
      result.tables.some((table) => table.rows.some(isLora) && table.rows.some(isQlora)),
      `expected a table with a LoRA row and a QLoRA row, got ${JSON.stringify(result.tables.map((x) => x.rows.slice(0, 3)))}`,
    );
  } finally {
    rmSync(ws.root, { recursive: true, force: true });
  }
});
