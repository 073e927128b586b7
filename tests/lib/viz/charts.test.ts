// Every chart renders to a real, non-blank PNG at 2x its stated size with its titles in the SVG, and
// every spec validates against the Vega-Lite 5.6.1 JSON schema (checked by Python's jsonschema).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { JUPYTER_DISPLAY, VEGA_LITE_MIME, VEGA_LITE_V5_SCHEMA, memoryChart, mergeComparison, pagingChart, shortLayerName, svgToPng, toDisplayBundle } from "../../../lib/viz/index.js";
import { jupyterPython, skipUnlessPythonModules } from "../../helpers/jupyter.js";
import { sampleCharts } from "./samples.js";

const charts = sampleCharts();

/** Width and height from a PNG's IHDR chunk (after checking the 8-byte signature). */
function pngHeader(png: Uint8Array): { width: number; height: number } {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "PNG signature");
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  assert.equal(String.fromCharCode(...png.subarray(12, 16)), "IHDR");
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** Fraction of pixels that are not (near) white. */
function inkFraction(rgba: Uint8Array): number {
  let ink = 0;
  for (let i = 0; i < rgba.length; i += 4) if (rgba[i] < 235 || rgba[i + 1] < 235 || rgba[i + 2] < 235) ink++;
  return ink / (rgba.length / 4);
}

/** SVG text content, entity-decoded, one string per <text> element. */
function svgTexts(svg: string): string[] {
  const decode = (s: string) => s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");
  return [...svg.matchAll(/<text[^>]*>([\s\S]*?)<\/text>/g)].map((m) => decode(m[1].replace(/<[^>]+>/g, " ")));
}

for (const { name, chart, texts } of charts) {
  test(`${name}: bundle is Vega-Lite v5 + 2x PNG + text/plain, not blank, with its labels`, () => {
    const bundle = toDisplayBundle(chart[JUPYTER_DISPLAY]());
    assert.deepEqual(Object.keys(bundle.data).sort(), ["application/vnd.vegalite.v5+json", "image/png", "text/plain"]);
    assert.equal(VEGA_LITE_MIME, "application/vnd.vegalite.v5+json");
    const spec = bundle.data[VEGA_LITE_MIME] as Record<string, unknown>;
    assert.equal(spec.$schema, VEGA_LITE_V5_SCHEMA);
    assert.match(VEGA_LITE_V5_SCHEMA, /\/vega-lite\/v5\.json$/);
    const plain = bundle.data["text/plain"] as string;
    assert.ok(plain.length > 10 && !plain.includes("\n"), `one-line summary: ${plain}`);
    const meta = (bundle.metadata ?? {})["image/png"] as { width: number; height: number };
    assert.ok(meta.width > 100 && meta.height > 100, `stated size ${JSON.stringify(meta)}`);
    const png = Buffer.from(bundle.data["image/png"] as string, "base64");
    assert.deepEqual(pngHeader(png), { width: 2 * meta.width, height: 2 * meta.height });
    const svg = chart.toSVG();
    assert.match(svg, new RegExp(`^<svg[^>]* width="${meta.width}" height="${meta.height}"`));
    const raster = svgToPng(svg, { keepPixels: true });
    const ink = inkFraction(raster.pixels!);
    assert.ok(ink > 0.03, `${name}: only ${(100 * ink).toFixed(2)}% of pixels have ink`);
    const found = svgTexts(svg);
    for (const text of texts) assert.ok(found.some((t) => t.includes(text)), `${name}: SVG lacks text "${text}"`);
    assert.ok(!JSON.stringify(spec).includes("undefined"));
  });
}

test("text is drawn: a chart rendered with its font has far more ink than the same SVG with text removed", () => {
  const svg = charts[0].chart.toSVG();
  const withText = inkFraction(svgToPng(svg, { keepPixels: true }).pixels!);
  const withoutText = inkFraction(svgToPng(svg.replace(/<text[\s\S]*?<\/text>/g, ""), { keepPixels: true }).pixels!);
  assert.ok(withText > withoutText + 0.005, `text adds ink: ${withText} vs ${withoutText}`);
});

test("every spec validates against the Vega-Lite 5.6.1 JSON schema (and a broken spec does not)", (t) => {
  const skip = skipUnlessPythonModules("jsonschema");
  if (skip) return t.skip(skip);
  const dir = mkdtempSync(join(tmpdir(), "viz-schema-"));
  try {
    const schemaPath = join(dir, "schema.json");
    writeFileSync(schemaPath, gunzipSync(readFileSync(fileURLToPath(new URL("./fixtures/vega-lite-v5.6.1-schema.json.gz", import.meta.url)))));
    const specs: Record<string, unknown> = Object.fromEntries(charts.map(({ name, chart }) => [name, chart.spec]));
    // Controls: a property Vega-Lite 5.6 does not know, and a mark type that does not exist.
    specs["control-unknown-property"] = { ...charts[0].chart.spec, notAVegaLiteProperty: 1 };
    specs["control-bad-mark"] = { $schema: VEGA_LITE_V5_SCHEMA, data: { values: [] }, mark: "hexbin" };
    const specsPath = join(dir, "specs.json");
    writeFileSync(specsPath, JSON.stringify(specs));
    const script = [
      "import json, sys, jsonschema",
      "schema = json.load(open(sys.argv[1])); specs = json.load(open(sys.argv[2]))",
      "v = jsonschema.Draft7Validator(schema)",
      "print(json.dumps({k: [e.message[:200] for e in list(v.iter_errors(s))[:3]] for k, s in specs.items()}))",
    ].join("\n");
    const run = spawnSync(jupyterPython, ["-c", script, schemaPath, specsPath], { encoding: "utf8", maxBuffer: 64 << 20 });
    assert.equal(run.status, 0, run.stderr);
    const errors = JSON.parse(run.stdout) as Record<string, string[]>;
    for (const { name } of charts) assert.deepEqual(errors[name], [], `${name} is not valid Vega-Lite 5.6: ${errors[name]?.join("; ")}`);
    assert.ok(errors["control-unknown-property"].length > 0, "the validator must reject an unknown property");
    assert.ok(errors["control-bad-mark"].length > 0, "the validator must reject an unknown mark");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("memory chart: host bytes are drawn above the device part, the budget label sits outside the plot", () => {
  const K = 1024;
  const chart = memoryChart([{ label: "paged", bytesByCategory: { optimizer_resident: 216 * K, optimizer_paged_out: 648 * K } }, { label: "8-bit", bytesByCategory: { optimizer_resident: 219 * K } }], { budgetBytes: 216 * K });
  const layers = chart.spec.layer as { data: { values: Record<string, unknown>[] }; mark: { x?: string; align?: string } }[];
  const bars = layers[0]!.data.values;
  const host = bars.find((b) => b.where === "host")!;
  assert.equal(host.value, 648);
  assert.ok((host.order as number) > (bars.find((b) => b.where === "device")!.order as number), "host stacked above the device bytes");
  const label = layers.at(-1)!;
  assert.deepEqual([label.mark.x, label.mark.align], ["width", "left"]);
});

test("paging chart: the step time is the whole training step when given, with the paging time in it", () => {
  const records = [1, 2, 3].map((step) => ({ step, pagesIn: 1, pagesOut: 1, bytesIn: 1024, bytesOut: 1024, stepMs: 5, pagingMs: 1 }));
  const given = pagingChart(records, { stepTimes: records.map((r) => ({ step: r.step, ms: 40 })) });
  const times = ((given.spec.vconcat as { data: { values: { what: string; ms: number }[] } }[])[2]!).data.values;
  assert.deepEqual([...new Set(times.map((t) => t.what))], ["whole training step", "paging in it"]);
  assert.equal(times.find((t) => t.what === "whole training step")!.ms, 40);
  assert.match(given.summary, /mean whole training step 40 ms/);
  assert.match(pagingChart(records).summary, /mean optimizer step 5 ms/);
  assert.throws(() => pagingChart(records, { stepTimes: [{ step: 1, ms: -1 }] }), /pagingChart: expected stepTimes\.ms/);
});

test("merge comparison: layer labels are short, perplexity has no zero baseline, tokens/s spread is drawn", () => {
  assert.equal(shortLayerName("model.layers.3.self_attn.q_proj"), "3 q_proj");
  assert.equal(shortLayerName("model.layers.12.mlp.down_proj"), "12 down_proj");
  assert.equal(shortLayerName("lm_head"), "lm_head");
  const rows = [
    { method: "separate", maxAbsLogitDiff: 0, meanAbsLogitDiff: 0, perplexity: 5.665, greedyAgreement: 1, tokensPerSecond: 75, tokensPerSecondRange: [70, 80] as const, residentBytes: 8e5 },
    { method: "merged-4bit", maxAbsLogitDiff: 1.7, meanAbsLogitDiff: 0.13, perplexity: 5.666, greedyAgreement: 0.58, tokensPerSecond: 109, tokensPerSecondRange: [100, 115] as const, residentBytes: 6e5 },
  ];
  const { chart, table } = mergeComparison(rows, [{ layer: "model.layers.0.self_attn.q_proj", survival: 0.98, deltaError: 2.1, deltaOutputError: 2.3 }]);
  const panels = ((chart.spec.vconcat as { concat?: { title: { text: string }; encoding: { x: { scale: { zero?: boolean } } }; layer: { mark: { type: string } }[] }[] }[])[0]!).concat!;
  const ppl = panels.find((p) => p.title.text === "perplexity")!;
  assert.equal(ppl.encoding.x.scale.zero, false);
  assert.equal(ppl.layer[0]!.mark.type, "point");
  assert.ok(panels.find((p) => p.title.text === "inference tokens/s")!.layer.some((l) => l.mark.type === "rule"));
  assert.equal((chart.spec.vconcat as unknown[]).length, 3, "metric panels, survival, noise");
  assert.match(table.toMarkdown(), /100-115/);
  assert.throws(() => mergeComparison(rows, [{ layer: "x", survival: 1, deltaError: Number.NaN }]), /mergeComparison: expected survival\.deltaError/);
});
