// lib/tf.ts against tfjs-core's own list of chained tensor methods (its dist/public/chained_ops files,
// one per method, the ones @tensorflow/tfjs registers): every method is there, and they give values worked by hand.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { resolveBackend, tf } from "../../lib/index.js";

before(() => resolveBackend());

const chainedOpsDir = join(dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-core/package.json")), "dist", "public", "chained_ops");

test("every chained method tfjs-core defines is a method of tf.Tensor", () => {
  const files = readdirSync(chainedOpsDir).filter((f) => f.endsWith(".js") && !f.startsWith("register_all"));
  const names = files.map((f) => /prototype\.(\w+)\s*=/.exec(readFileSync(join(chainedOpsDir, f), "utf8"))?.[1]).filter((n): n is string => n !== undefined);
  assert.ok(names.length > 130, `${names.length} chained methods found in ${chainedOpsDir}`);
  const t = tf.ones([2, 2]);
  const missing = names.filter((name) => typeof (t as unknown as Record<string, unknown>)[name] !== "function");
  assert.deepEqual(missing, []);
  t.dispose();
});

test("chained methods give the values worked by hand, including those that are not tf.name(t, ...)", () => {
  const x = tf.tensor2d([
    [1, -2, 3],
    [4, 5, -6],
  ]); // [2, 3]
  const values = (t: tf.Tensor | tf.Tensor[]) => [t].flat().map((u) => u.arraySync());
  assert.deepEqual(values(x.square().add(1).sum(1)), [[1 + 4 + 9 + 3, 16 + 25 + 36 + 3]]);
  assert.deepEqual(values(x.mean(0, true)), [[[2.5, 1.5, -1.5]]]);
  assert.deepEqual(values(x.matMul(x, false, true)), [[[14, -24], [-24, 77]]]); // x x^T
  assert.deepEqual(values(x.split(3, 1)), [[[1], [4]], [[-2], [5]], [[3], [-6]]]);
  assert.deepEqual(values(x.as1D()), [[1, -2, 3, 4, 5, -6]]);
  assert.deepEqual(values(x.flatten().as2D(3, 2)), [[[1, -2], [3, 4], [5, -6]]]);
  assert.deepEqual(values(x.reshapeAs(tf.zeros([3, 2]))), [[[1, -2], [3, 4], [5, -6]]]);
  assert.equal(x.toInt().dtype, "int32");
  assert.deepEqual(values(x.concat(x, 0)), [[[1, -2, 3], [4, 5, -6], [1, -2, 3], [4, 5, -6]]]);
  assert.deepEqual(x.stack([x, x]).shape, [3, 2, 3]);
  assert.deepEqual(values(x.where(tf.greater(x, 0), tf.zerosLike(x))), [[[1, 0, 3], [4, 5, 0]]]);
  assert.equal(tf.scalar(7).asScalar().arraySync(), 7);
  assert.throws(() => x.asScalar(), /The array must have only 1 element/);
  x.dispose();
  assert.throws(() => x.sum(), /Tensor is disposed/);
});
