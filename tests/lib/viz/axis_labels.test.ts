// Category labels wider than their band wrap onto lines that fit it, so neighbours never overprint.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chartTextWidth, memoryChart } from "../../../lib/viz/index.js";
import { wrapLabel, wrappedLabelAxis } from "../../../lib/viz/axis_labels.js";

test("wrapLabel breaks at spaces into lines no wider than the limit; a short label stays one line", () => {
  const lines = wrapLabel("NF4 + DQ, tables per tensor", 120, 12);
  assert.ok(lines.length >= 2, lines.join(" | "));
  assert.equal(lines.join(" "), "NF4 + DQ, tables per tensor");
  for (const line of lines) assert.ok(chartTextWidth({ fontSize: 12 }, line) <= 120 || !line.includes(" "), line);
  assert.deepEqual(wrapLabel("NF4", 120, 12), ["NF4"]);
  assert.deepEqual(wrappedLabelAxis(["a", "b"], 120, 12), {});
});

test("memoryChart wraps long setup names: each line is drawn as its own text, within its band", () => {
  const labels = ["float32", "NF4", "NF4 + DQ, tables per tensor", "NF4 + DQ, tables shared"];
  const chart = memoryChart(labels.map((label) => ({ label, bytesByCategory: { base_packed: 1000 } })));
  const svg = chart.toSVG();
  const band = (Math.max(240, 150 * labels.length) * 0.9) / labels.length;
  // A wrapped label is one <text> of <tspan> lines.
  const texts = [...svg.matchAll(/<(?:text|tspan)[^>]*>([^<]+)<\/(?:text|tspan)>/g)].map((m) => m[1]!.replace(/&amp;/g, "&"));
  for (const line of ["NF4 + DQ, tables per", "tensor", "NF4 + DQ, tables", "shared"]) assert.ok(texts.includes(line), `expected a text "${line}" in ${JSON.stringify(texts)}`);
  for (const t of texts.filter((t) => t.startsWith("NF4 + DQ"))) assert.ok(chartTextWidth({ fontSize: 12 }, t) <= band, `"${t}" fits a band of ${band} px`);
});
