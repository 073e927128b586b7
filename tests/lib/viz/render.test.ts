// The Node renderer: synchronous SVG identical to vega's own toSVG(), font metrics matching the
// rasterizer's glyphs, file saving, and input errors of the builders.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as vega from "vega";
import { compile } from "vega-lite";
import { Resvg } from "@resvg/resvg-js";
import { chartFonts, loadFontMetrics, lossChart, memoryChart, renderSvg, chartTextWidth, VEGA_LITE_V5_SCHEMA, plannerChart, DEFAULT_GPUS } from "../../../lib/viz/index.js";
import { samplePlanner, sampleRuns } from "./samples.js";

test("renderSvg (synchronous) equals vega's own async view.toSVG() with the same text widths, and leaves vega's measurement as it was", async () => {
  const spec = lossChart(sampleRuns(20).steps).spec;
  const metrics = (vega as unknown as { textMetrics: { width: typeof chartTextWidth } }).textMetrics;
  const vegaOwn = metrics.width;
  const svg = renderSvg(spec);
  assert.equal(metrics.width, vegaOwn, "renderSvg restores vega.textMetrics.width");
  metrics.width = chartTextWidth;
  try {
    const view = new vega.View(vega.parse(compile(structuredClone(spec) as never).spec), { renderer: "none" });
    const expectedSvg = await view.toSVG();
    view.finalize();
    assert.equal(svg, expectedSvg);
  } finally {
    metrics.width = vegaOwn;
  }
});

test("font metrics: advance widths agree with the glyphs resvg draws", () => {
  const fonts = chartFonts();
  const metrics = loadFontMetrics(fonts.regular);
  for (const text of ["training step", "Where the memory goes", "WWWWW", "iiiii"]) {
    const size = 20;
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="800" height="60"><text x="10" y="40" font-family="DejaVu Sans" font-size="${size}">${text}</text></svg>`;
    const resvg = new Resvg(svg, { font: { loadSystemFonts: false, fontFiles: [fonts.regular], defaultFontFamily: "DejaVu Sans" } });
    const ink = resvg.getBBox()!.width;
    const advance = metrics.measure(text, size);
    // Advance width = ink width + side bearings (a few pixels at 20 px).
    assert.ok(advance >= ink - 1 && advance - ink < 0.1 * advance + 4, `${text}: advance ${advance} vs ink ${ink}`);
  }
  // Much narrower than Vega's 0.8 em-per-character guess for lower-case text.
  assert.ok(metrics.measure("training step", 10) < 0.8 * 10 * 13 * 0.85);
});

test("save writes PNG, SVG and JSON atomically and refuses other extensions", () => {
  const dir = mkdtempSync(join(tmpdir(), "viz-save-"));
  try {
    const chart = memoryChart([{ label: "QLoRA", bytesByCategory: { base_packed: 2 ** 30 } }]);
    chart.save(join(dir, "c.png"));
    chart.save(join(dir, "sub/c.svg"));
    chart.save(join(dir, "c.json"));
    assert.deepEqual([...readFileSync(join(dir, "c.png")).subarray(1, 4)], [0x50, 0x4e, 0x47]);
    assert.match(readFileSync(join(dir, "sub/c.svg"), "utf8"), /^<svg/);
    assert.equal(JSON.parse(readFileSync(join(dir, "c.json"), "utf8")).$schema, VEGA_LITE_V5_SCHEMA);
    assert.throws(() => chart.save(join(dir, "c.gif")), /Chart.save: expected a path ending in .png, .svg or .json/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("memory and planner charts: budgets decide fits, bad categories are refused", () => {
  const G = 2 ** 30;
  const chart = memoryChart(
    [
      { label: "LoRA", bytesByCategory: { base_dense: 14 * G, activations: 3 * G } },
      { label: "QLoRA", bytesByCategory: { base_packed: 3.5 * G, activations: 3 * G, optimizer_paged_out: G } },
    ],
    { budgetBytes: 16 * G },
  );
  assert.match(chart.summary, /LoRA does not fit, QLoRA fits/);
  assert.match(chart.summary, /QLoRA 6\.5 GiB \(\+1 GiB host\)/);
  assert.throws(() => memoryChart([{ label: "x", bytesByCategory: { weights: 1 } as never }]), /memoryChart: expected a memory category/);
  assert.throws(() => memoryChart([{ label: "x", bytesByCategory: { activations: -1 } }]), /expected bytes of activations to be a finite number >= 0/);
  const planner = plannerChart(samplePlanner());
  const grid = ((planner.spec.hconcat as { data?: { values: { row: string; gpu: string; fits: string }[] } }[])[1].data!.values);
  const cell = (row: string, gpu: string) => grid.find((c) => c.row === row && c.gpu === gpu)!.fits;
  assert.equal(cell("7B QLoRA", "12 GiB"), "fits");
  assert.equal(cell("7B LoRA", "16 GiB"), "too big");
  assert.equal(cell("70B QLoRA", "48 GiB"), "fits");
  assert.equal(cell("70B LoRA", "48 GiB"), "too big");
  assert.equal(cell("70B LoRA", "80 GiB"), "fits across several");
  assert.equal(grid.length, samplePlanner().length * DEFAULT_GPUS.length);
});
