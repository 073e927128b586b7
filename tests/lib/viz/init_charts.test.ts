// The initialisation charts (lesson 08): they render with their labels, their specs are valid
// Vega-Lite 5.6 (Python's jsonschema, as charts.test.ts checks the others), and bad rows are refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { initResidualChart, seedSpreadChart, type InitResidualRow, type SeedSpreadRow } from "../../../lib/viz/index.js";
import { jupyterPython, skipUnlessPythonModules } from "../../helpers/jupyter.js";

const residualRows: InitResidualRow[] = [0, 1].flatMap((layer) =>
  ["q_proj", "down_proj"].flatMap((component) => ["default", "LoftQ", "PiSSA"].map((init, i) => ({ layer, component, init, relative: 0.09 - 0.015 * i }))),
);
const spreadRows: SeedSpreadRow[] = ["default", "PiSSA"].flatMap((init, i) => [5, 10, 15].map((step) => ({ init, step, mean: 2 + 1 / step - 0.1 * i, min: 1.95 + 1 / step - 0.1 * i, max: 2.05 + 1 / step - 0.1 * i })));
const charts = { residual: initResidualChart(residualRows), spread: seedSpreadChart(spreadRows, { seeds: 3, yScale: "log" }) };

test("initResidualChart: a panel per layer, a bar per init, labels and summary", () => {
  const svg = charts.residual.toSVG();
  for (const text of ["What each initialisation leaves of W before training", "layer 0", "layer 1", "q_proj", "down_proj", "PiSSA", "% of ||W||"]) assert.ok(svg.includes(text), text);
  assert.match(charts.residual.summary, /default mean 9 % of \|\|W\|\|, LoftQ mean 7\.5 % .*PiSSA mean 6 %/);
  assert.ok(charts.residual.toPNG().length > 1000);
  assert.throws(() => initResidualChart([{ layer: 0, component: "q_proj", init: "x", relative: Number.NaN }]), /row\.relative, a non-negative number/);
  assert.throws(() => initResidualChart([]), /at least one row/);
});

test("seedSpreadChart: mean line, seed band, the number of seeds in the subtitle", () => {
  const svg = charts.spread.toSVG();
  for (const text of ["Eval loss by initialisation", "mean over 3 seeds", "smallest to largest seed", "training step", "eval loss"]) assert.ok(svg.includes(text), text);
  assert.match(charts.spread.summary, /default .* at step 15, PiSSA .* at step 15/);
  assert.throws(() => seedSpreadChart([]), /at least one row/);
});

test("both specs validate against the Vega-Lite 5.6.1 JSON schema", (t) => {
  const skip = skipUnlessPythonModules("jsonschema");
  if (skip) return t.skip(skip);
  const dir = mkdtempSync(join(tmpdir(), "viz-init-schema-"));
  try {
    const schemaPath = join(dir, "schema.json");
    writeFileSync(schemaPath, gunzipSync(readFileSync(fileURLToPath(new URL("./fixtures/vega-lite-v5.6.1-schema.json.gz", import.meta.url)))));
    const specsPath = join(dir, "specs.json");
    writeFileSync(specsPath, JSON.stringify(Object.fromEntries(Object.entries(charts).map(([k, c]) => [k, c.spec]))));
    const script = "import json, sys, jsonschema\nschema = json.load(open(sys.argv[1])); specs = json.load(open(sys.argv[2]))\nv = jsonschema.Draft7Validator(schema)\nprint(json.dumps({k: [e.message[:200] for e in list(v.iter_errors(s))[:3]] for k, s in specs.items()}))";
    const run = spawnSync(jupyterPython, ["-c", script, schemaPath, specsPath], { encoding: "utf8", maxBuffer: 64 << 20 });
    assert.equal(run.status, 0, run.stderr);
    const errors = JSON.parse(run.stdout) as Record<string, string[]>;
    for (const name of Object.keys(charts)) assert.deepEqual(errors[name], [], `${name}: ${errors[name]?.join("; ")}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
