// Error introspection: hand-worked histogram and per-block numbers, bitsandbytes' relative errors, and
// NF4 beating FP4 and INT4 on normal data.
import { test } from "node:test";
import assert from "node:assert/strict";
import { codeHistogram, compareQuantTypes, quantizationError } from "../../../lib/quant/quant_error.js";
import { quantize4bit } from "../../../lib/quant/quantized_tensor.js";
import { seededNormal } from "../../../lib/quant/random_normal.js";

test("hand-worked: histogram counts real values only, per-block errors, errors of the one inexact value", () => {
  const x = new Float32Array([1, -1, 0, 1, 0.5]); // NF4 codes 15, 0, 7, 15, then 0.5 -> nearest 0.4407 (12)
  const q = quantize4bit(x, [5], { blocksize: 32 });
  const h = codeHistogram(q);
  assert.equal(h.reduce((a, b) => a + b, 0), 5, "the padding nibble is not counted");
  assert.deepEqual([h[0], h[7], h[12], h[15]], [1, 1, 1, 2]);
  const r = quantizationError(x, [5], { blocksize: 32 });
  const err = Math.abs(0.5 - Math.fround(0.44070982933044434));
  assert.ok(Math.abs(r.maxAbsError - err) < 1e-7);
  assert.ok(Math.abs(r.meanAbsError - err / 5) < 1e-7);
  assert.equal(r.perBlockMeanAbs.length, 1);
  assert.ok(Math.abs(r.perBlockMaxAbs[0]! - err) < 1e-7);
});

test("on seeded randn: relative error near bitsandbytes' (NF4 0.2033, FP4 0.2601) and NF4 < INT4 < FP4 in mean |error|", () => {
  const x = seededNormal(256 * 1024, 5);
  const [nf4, fp4, int4] = compareQuantTypes(x, [256, 1024], { blocksize: 64 });
  assert.deepEqual([nf4!.quantType, fp4!.quantType, int4!.quantType], ["nf4", "fp4", "int4"]);
  assert.ok(Math.abs(nf4!.meanRelError / 0.203339 - 1) < 0.01, `${nf4!.meanRelError}`);
  assert.ok(Math.abs(fp4!.meanRelError / 0.260125 - 1) < 0.01, `${fp4!.meanRelError}`);
  assert.ok(nf4!.meanAbsError < int4!.meanAbsError && int4!.meanAbsError < fp4!.meanAbsError);
  assert.equal(int4!.codeHistogram[15], 0, "INT4's spare code is never used");
  assert.equal(nf4!.perBlockMeanAbs.length, 256 * 1024 / 64);
});
