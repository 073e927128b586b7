// The seeded normal generators against the normal distribution itself: moments, the 68-95-99.7 rule and a
// Kolmogorov-Smirnov distance to Φ, plus reproducibility and the caller's scratch buffer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { seededNormal, seededNormalZiggurat } from "../../../lib/quant/random_normal.js";

/** Φ(x) from erf (Abramowitz & Stegun 7.1.26, absolute error under 1.5e-7). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** The largest gap between the sample's empirical CDF and Φ. */
function ksDistance(samples: Float32Array): number {
  const sorted = Float64Array.from(samples).sort();
  let d = 0;
  for (let i = 0; i < sorted.length; i++) {
    const cdf = normalCdf(sorted[i]!);
    d = Math.max(d, Math.abs(cdf - i / sorted.length), Math.abs((i + 1) / sorted.length - cdf));
  }
  return d;
}

const generators = [
  ["seededNormal (Box-Muller)", (n: number, seed: number, std?: number) => seededNormal(n, seed, { std })],
  ["seededNormalZiggurat (ziggurat)", (n: number, seed: number, std?: number) => seededNormalZiggurat(n, seed, { std })],
] as const;

for (const [name, draw] of generators) {
  test(`${name}: N(0, 1) moments, the 68-95-99.7 rule and a KS distance within the 1 % critical value`, () => {
    const n = 200_000;
    const x = draw(n, 7);
    let sum = 0, sq = 0, within1 = 0, within2 = 0, beyond3 = 0;
    for (const v of x) {
      sum += v;
      sq += v * v;
      if (Math.abs(v) < 1) within1++;
      if (Math.abs(v) < 2) within2++;
      if (Math.abs(v) > 3) beyond3++; // the ziggurat's tail and wedges
    }
    const mean = sum / n;
    assert.ok(Math.abs(mean) < 5 / Math.sqrt(n), `mean ${mean}`); // 5 standard errors
    assert.ok(Math.abs(sq / n - 1) < 0.015, `variance ${sq / n}`);
    assert.ok(Math.abs(within1 / n - 0.682689) < 0.005, `P(|x| < 1) = ${within1 / n}`);
    assert.ok(Math.abs(within2 / n - 0.954500) < 0.003, `P(|x| < 2) = ${within2 / n}`);
    assert.ok(Math.abs(beyond3 / n - 0.0026998) < 0.0006, `P(|x| > 3) = ${beyond3 / n}`);
    assert.ok(ksDistance(x) < 1.63 / Math.sqrt(n), `KS distance ${ksDistance(x)}`);
  });

  test(`${name}: the same seed gives the same samples, another seed others, std scales them`, () => {
    assert.deepEqual(draw(1001, 3), draw(1001, 3));
    assert.notDeepEqual(draw(16, 3), draw(16, 4));
    const unit = draw(101, 5), scaled = draw(101, 5, 0.02);
    for (let i = 0; i < unit.length; i++) assert.ok(Math.abs(scaled[i]! - 0.02 * unit[i]!) < 1e-8);
  });
}

test("seededNormalZiggurat fills the caller's scratch buffer and returns a view of n values", () => {
  const scratch = new Float32Array(64);
  const view = seededNormalZiggurat(33, 9, { out: scratch }); // n below the buffer's length: a view of its start
  assert.equal(view.length, 33);
  assert.equal(view.buffer, scratch.buffer);
  assert.deepEqual(view, seededNormalZiggurat(33, 9));
});
