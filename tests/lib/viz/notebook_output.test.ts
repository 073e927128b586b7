// A chart bundle stored as a notebook output is valid nbformat, and nbconvert's HTML export shows it
// as the embedded PNG (front ends without a Vega renderer); a table shows as its HTML.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JUPYTER_DISPLAY, memoryChart, table, toDisplayBundle } from "../../../lib/viz/index.js";
import { jupyterPython, skipUnlessPythonModules } from "../../helpers/jupyter.js";

test("nbformat accepts chart and table outputs; nbconvert HTML shows the PNG and the table", (t) => {
  const skip = skipUnlessPythonModules("nbformat", "nbconvert");
  if (skip) return t.skip(skip);
  const chart = toDisplayBundle(memoryChart([{ label: "QLoRA", bytesByCategory: { base_packed: 3 * 2 ** 30, lora_params: 2 ** 28 } }])[JUPYTER_DISPLAY]());
  const tab = toDisplayBundle(table([{ "<method>": "QLoRA", bytes: 3 }])[JUPYTER_DISPLAY]());
  const notebook = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "qlora-lab", display_name: "qlora-lab", language: "typescript" }, language_info: { name: "typescript" } },
    cells: [
      {
        cell_type: "code",
        id: "c1",
        execution_count: 1,
        metadata: {},
        source: "display(memoryChart(...))",
        outputs: [
          { output_type: "display_data", data: chart.data, metadata: chart.metadata },
          { output_type: "display_data", data: tab.data, metadata: {} },
        ],
      },
    ],
  };
  const dir = mkdtempSync(join(tmpdir(), "viz-nb-"));
  try {
    const path = join(dir, "chart.ipynb");
    writeFileSync(path, JSON.stringify(notebook));
    const validate = spawnSync(jupyterPython, ["-c", "import nbformat, sys; nbformat.validate(nbformat.read(sys.argv[1], as_version=4)); print('valid')", path], { encoding: "utf8" });
    assert.equal(validate.status, 0, validate.stderr);
    const convert = spawnSync(jupyterPython, ["-m", "nbconvert", "--to", "html", "--output-dir", dir, path], { encoding: "utf8" });
    assert.equal(convert.status, 0, convert.stderr);
    const html = readFileSync(join(dir, "chart.html"), "utf8");
    const png = chart.data["image/png"] as string;
    assert.ok(html.includes(`data:image/png;base64,${png.slice(0, 64)}`), "the HTML embeds the chart's PNG");
    assert.match(html, /&lt;method&gt;/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
