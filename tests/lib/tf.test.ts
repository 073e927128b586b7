// lib/tf.ts against tfjs-core's own list of chained tensor methods (its dist/public/chained_ops files,
// one per method, the ones @tensorflow/tfjs registers): every method is there and computes what the op does.
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

test("chained methods compute what the ops compute, including those that are not tf.name(t, ...)", () => {
  const x = tf.tensor2d([
    [1, -2, 3],
    [4, 5, -6],
  ]); // [2, 3]
  const same = (a: tf.Tensor | tf.Tensor[], b: tf.Tensor | tf.Tensor[]) => assert.deepEqual(tf.stack([a].flat()).arraySync(), tf.stack([b].flat()).arraySync());
  same(x.square().add(1).sum(1), tf.sum(tf.add(tf.square(x), 1), 1));
  same(x.mean(0, true), tf.mean(x, 0, true));
  same(x.matMul(x, false, true), tf.matMul(x, x, false, true));
  same(x.split(3, 1), tf.split(x, 3, 1));
  same(x.as1D(), tf.reshape(x, [6]));
  same(x.flatten().as2D(3, 2), tf.reshape(x, [3, 2]));
  same(x.reshapeAs(tf.zeros([3, 2])), tf.reshape(x, [3, 2]));
  same(x.toInt(), tf.cast(x, "int32"));
  same(x.concat(x, 0), tf.concat([x, x], 0));
  same(x.stack([x, x]), tf.stack([x, x, x]));
  same(x.where(tf.greater(x, 0), tf.zerosLike(x)), tf.where(tf.greater(x, 0), x, tf.zerosLike(x)));
  assert.throws(() => x.asScalar(), /The array must have only 1 element/);
  x.dispose();
  assert.throws(() => x.sum(), /Tensor is disposed/);
});
