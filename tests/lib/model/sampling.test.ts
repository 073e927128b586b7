import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../lib/errors.js";
import { argmax, sampleToken, seededRandom, validateSamplingOptions } from "../../../lib/model/index.js";

const logits = Float32Array.from([0, Math.log(3), -1, Math.log(1.5), -5]);

test("temperature 0 and top-k 1 are greedy", () => {
  const random = seededRandom(1);
  assert.equal(argmax(logits), 1);
  assert.equal(sampleToken(logits, { temperature: 0 }, random), 1);
  assert.equal(sampleToken(logits, { temperature: 5, topK: 1 }, random), 1);
});

test("a seed reproduces the draws; another seed differs", () => {
  const draw = (seed: number) => {
    const random = seededRandom(seed);
    return Array.from({ length: 50 }, () => sampleToken(logits, { temperature: 1 }, random));
  };
  assert.deepEqual(draw(42), draw(42));
  assert.notDeepEqual(draw(42), draw(43));
});

test("temperature-1 sampling follows softmax; top-k and top-p cut the tail", () => {
  const random = seededRandom(7);
  const n = 20000;
  const counts = new Array(5).fill(0);
  for (let i = 0; i < n; i++) counts[sampleToken(logits, { temperature: 1 }, random)]++;
  const z = [1, 3, Math.exp(-1), 1.5, Math.exp(-5)].reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(counts[1] / n - 3 / z) < 0.015, `p(1) ${counts[1] / n} vs ${3 / z}`);
  const top2 = new Set(Array.from({ length: 2000 }, () => sampleToken(logits, { temperature: 1, topK: 2 }, random)));
  assert.deepEqual([...top2].sort(), [1, 3]);
  // p(1) = 3/z ≈ 0.52, p(3) ≈ 0.26: top-p 0.6 keeps exactly {1, 3}; top-p 0.5 keeps {1}.
  const nucleus = new Set(Array.from({ length: 2000 }, () => sampleToken(logits, { temperature: 1, topP: 0.6 }, random)));
  assert.deepEqual([...nucleus].sort(), [1, 3]);
  assert.deepEqual(new Set(Array.from({ length: 200 }, () => sampleToken(logits, { temperature: 1, topP: 0.5 }, random))), new Set([1]));
});

test("invalid options are refused", () => {
  assert.throws(() => validateSamplingOptions({ temperature: -1 }, "t"), InvalidArgumentError);
  assert.throws(() => validateSamplingOptions({ topK: 1.5 }, "t"), InvalidArgumentError);
  assert.throws(() => validateSamplingOptions({ topP: 0 }, "t"), InvalidArgumentError);
});
