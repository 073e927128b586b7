// What the code book histogram says about its lines: codes that share a value, and levels too close
// to draw apart (FP4's three levels around 0 at the chart's default width).
import { test } from "node:test";
import assert from "node:assert/strict";
import { levelLayout, quantHistogramChart } from "../../../lib/viz/index.js";
import { CODEBOOKS } from "../../../lib/quant/codebooks.js";

test("levelLayout: NF4 has 16 distinct levels; FP4 and INT4 code 0 twice; FP4's levels around 0 merge at 4 px on 520 px", () => {
  const minGap = (4 * 2) / 520;
  const nf4 = levelLayout(CODEBOOKS.nf4, minGap);
  assert.equal(nf4.distinct.length, 16);
  assert.deepEqual(nf4.repeated, []);
  assert.deepEqual(nf4.merged, []);
  const fp4 = levelLayout(CODEBOOKS.fp4, minGap);
  assert.equal(fp4.distinct.length, 15);
  assert.deepEqual(fp4.repeated, [{ value: 0, codes: 2 }]);
  assert.deepEqual(fp4.merged, [[-0.0625 / 12, 0, 0.0625 / 12]]);
  const int4 = levelLayout(CODEBOOKS.int4, minGap);
  assert.equal(int4.distinct.length, 15);
  assert.deepEqual(int4.repeated, [{ value: 0, codes: 2 }]);
  assert.deepEqual(int4.merged, []);
});

test("the histogram's panel titles and summary count codes and distinct levels", () => {
  const values = Float32Array.from({ length: 640 }, (_, i) => Math.sin(i));
  const chart = quantHistogramChart(values, [{ name: "fp4", levels: CODEBOOKS.fp4 }, { name: "nf4", levels: CODEBOOKS.nf4 }]);
  const titles = (chart.spec.vconcat as { title: { text: string } }[]).map((p) => p.title.text);
  assert.deepEqual(titles, ["FP4: 16 codes, 15 distinct levels (0 coded twice)", "NF4: 16 levels"]);
  assert.match(String(chart), /fp4 \(16 codes, 15 distinct levels\), nf4 \(16 levels\)/);
  assert.match(JSON.stringify(chart.spec), /3 levels drawn as one line: -0\.0052, 0, 0\.0052/);
});
