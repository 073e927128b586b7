import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { InvalidArgumentError, TensorError } from "../../../lib/errors.js";
import { AdamW, clipByGlobalNorm, lrSchedule } from "../../../lib/optim/index.js";
import { jupyterPython, skipUnlessPythonModules } from "../../helpers/jupyter.js";

/** Deterministic pseudo-random values in [-1, 1). */
function randoms(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

const SHAPES: Record<string, number[]> = { w: [4, 3], b: [3] };
const STEPS = 5;
const LRS = [1e-2, 5e-3, 2e-2, 1e-3, 1e-2];

function runOurs(options: ConstructorParameters<typeof AdamW>[0]) {
  const params = Object.entries(SHAPES).map(([name, shape], i) => ({ name, variable: tf.tidy(() => tf.variable(tf.tensor(randoms(shape.reduce((a, b) => a * b), 1 + i), shape))) }));
  const opt = new AdamW(options);
  for (let t = 0; t < STEPS; t++) {
    const grads: Record<string, tf.Tensor> = {};
    params.forEach((p, i) => (grads[p.name] = tf.tensor(randoms(p.variable.size, 100 * (t + 1) + i), p.variable.shape)));
    opt.applyGradients(params, grads, LRS[t]!);
    tf.dispose(Object.values(grads));
  }
  const out = Object.fromEntries(params.map((p) => [p.name, Array.from(p.variable.dataSync())]));
  const state = opt.saveState();
  opt.dispose();
  params.forEach((p) => p.variable.dispose());
  return { out, state };
}

const TORCH = `
import json, sys, torch
cfg = json.load(sys.stdin)
def rnd(n, seed):
    out, s = [], seed
    for _ in range(n):
        s = (s * 1664525 + 1013904223) % 2**32
        out.append(s / 2**31 - 1)
    return torch.tensor(out, dtype=torch.float32)
params = []
for i, (name, shape) in enumerate(cfg["shapes"].items()):
    n = 1
    for d in shape: n *= d
    params.append((name, torch.nn.Parameter(rnd(n, 1 + i).reshape(shape))))
opt = torch.optim.AdamW([p for _, p in params], lr=1.0, betas=tuple(cfg["betas"]), eps=cfg["eps"], weight_decay=cfg["wd"], foreach=False)
for t, lr in enumerate(cfg["lrs"]):
    for i, (name, p) in enumerate(params):
        p.grad = rnd(p.numel(), 100 * (t + 1) + i).reshape(p.shape)
    for g in opt.param_groups: g["lr"] = lr
    opt.step()
res = {name: {"p": p.detach().flatten().tolist(), "m": opt.state[p]["exp_avg"].flatten().tolist(), "v": opt.state[p]["exp_avg_sq"].flatten().tolist()} for name, p in params}
print(json.dumps(res))
`;

for (const backend of ["cpu", "wasm"] as const) {
  test(`AdamW matches torch.optim.AdamW over ${STEPS} steps with per-step lr and weight decay (${backend})`, { skip: skipUnlessPythonModules("torch") }, async () => {
    await resolveBackend({ force: backend });
    const betas = [0.9, 0.95] as const;
    const before = tf.memory().numTensors;
    const { out, state } = runOurs({ betas, eps: 1e-6, weightDecay: 0.1 });
    assert.equal(tf.memory().numTensors, before, "no tensors leak");
    const py = spawnSync(jupyterPython, ["-c", TORCH], { input: JSON.stringify({ shapes: SHAPES, betas, eps: 1e-6, wd: 0.1, lrs: LRS }), encoding: "utf8" });
    assert.equal(py.status, 0, py.stderr);
    const ref = JSON.parse(py.stdout) as Record<string, { p: number[]; m: number[]; v: number[] }>;
    assert.equal(state.stepCount, STEPS);
    for (const name of Object.keys(SHAPES)) {
      const close = (a: ArrayLike<number>, b: number[], tol: number, what: string) =>
        b.forEach((x, i) => assert.ok(Math.abs(a[i]! - x) <= tol * (1 + Math.abs(x)), `${name}.${what}[${i}]: ${a[i]} vs torch ${x}`));
      close(out[name]!, ref[name]!.p, 2e-6, "param");
      close(state.slots[name]!.m!, ref[name]!.m, 2e-6, "m");
      close(state.slots[name]!.v!, ref[name]!.v, 2e-6, "v");
      assert.equal(state.slots[name]!.step![0], STEPS);
    }
  });
}

test("one hand-worked AdamW step: the first update moves each weight by lr * sign(g) (plus decay)", async () => {
  await resolveBackend({ force: "cpu" });
  const w = tf.variable(tf.tensor1d([1, -2, 0.5]));
  const opt = new AdamW({ eps: 0, weightDecay: 0.5 });
  const g = tf.tensor1d([0.3, -4, 1e-3]);
  opt.applyGradients([{ name: "w", variable: w }], { w: g }, 0.1);
  // decay: w * (1 - 0.1 * 0.5) = w * 0.95; then m_hat / sqrt(v_hat) = sign(g) at step 1.
  const want = [1 * 0.95 - 0.1, -2 * 0.95 + 0.1, 0.5 * 0.95 - 0.1];
  Array.from(w.dataSync()).forEach((x, i) => assert.ok(Math.abs(x - want[i]!) < 1e-6, `${x} vs ${want[i]}`));
  assert.equal(opt.stepCount, 1);
  tf.dispose([w, g]);
  opt.dispose();
});

test("saveState / loadState resumes exactly: 3 + 2 steps equal 5 steps", async () => {
  await resolveBackend({ force: "cpu" });
  const full = runOurs({ weightDecay: 0.01 });
  // Run 3 steps, save, reload into a fresh optimizer, continue.
  const params = Object.entries(SHAPES).map(([name, shape], i) => ({ name, variable: tf.tidy(() => tf.variable(tf.tensor(randoms(shape.reduce((a, b) => a * b), 1 + i), shape))) }));
  let opt = new AdamW({ weightDecay: 0.01 });
  for (let t = 0; t < STEPS; t++) {
    if (t === 3) {
      const saved = opt.saveState();
      opt.dispose();
      opt = new AdamW({ weightDecay: 0.01 });
      opt.loadState(structuredClone(saved));
      assert.equal(opt.stepCount, 3);
    }
    const grads: Record<string, tf.Tensor> = {};
    params.forEach((p, i) => (grads[p.name] = tf.tensor(randoms(p.variable.size, 100 * (t + 1) + i), p.variable.shape)));
    opt.applyGradients(params, grads, LRS[t]!);
    tf.dispose(Object.values(grads));
  }
  for (const p of params) assert.deepEqual(Array.from(p.variable.dataSync()), full.out[p.name]);
  opt.dispose();
  params.forEach((p) => p.variable.dispose());
});

test("AdamW memoryItems reports 8 bytes per parameter of resident state", async () => {
  await resolveBackend({ force: "cpu" });
  const w = tf.variable(tf.zeros([10, 7]));
  const opt = new AdamW();
  assert.deepEqual(opt.memoryItems(), []);
  const g = tf.ones([10, 7]);
  const before = tf.memory().numBytes;
  opt.applyGradients([{ name: "w", variable: w }], { w: g }, 0.01);
  const items = opt.memoryItems();
  assert.deepEqual(items, [{ category: "optimizer_resident", bytes: 70 * 8, owner: "w", onBackend: true }]);
  assert.equal(tf.memory().numBytes - before, 70 * 8);
  opt.dispose();
  assert.equal(tf.memory().numBytes, before);
  tf.dispose([w, g]);
});

test("bad AdamW settings and inputs give clear errors", async () => {
  await resolveBackend({ force: "cpu" });
  assert.throws(() => new AdamW({ betas: [1, 0.9] }), /AdamW: expected betas\[0\] in \[0, 1\), got 1/);
  assert.throws(() => new AdamW({ weightDecay: -1 }), InvalidArgumentError);
  assert.throws(() => new AdamW({ state: { kind: "fast" } as never }), /state.kind to be one of "resident", "paged", "8bit", "paged-8bit"/);
  assert.throws(() => new AdamW({ state: { kind: "paged", budgetBytes: 100, pageBytes: 4096 } }), /budgetBytes to hold at least one page \(4096 bytes\), got 100/);
  assert.throws(() => new AdamW({ state: { kind: "paged", budgetBytes: -5 } }), /budgetBytes to be a non-negative number/);
  const w = tf.variable(tf.zeros([2, 2]));
  const opt = new AdamW();
  const bad = tf.zeros([4]);
  assert.throws(() => opt.applyGradients([{ name: "w", variable: w }], { w: bad }, 0.1), TensorError);
  assert.throws(() => opt.applyGradients([{ name: "w", variable: w }], { w: bad }, Number.NaN), /lr to be a finite number >= 0/);
  tf.dispose([w, bad]);
  opt.dispose();
});

test("clipByGlobalNorm matches torch's rule and reports the pre-clip norm", async () => {
  await resolveBackend({ force: "cpu" });
  const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor2d([[0, 4]]) };
  const before = tf.memory().numTensors;
  const clipped = clipByGlobalNorm(grads, 1);
  assert.ok(Math.abs(clipped.norm - 5) < 1e-6);
  assert.ok(Math.abs(clipped.scale - 1 / (5 + 1e-6)) < 1e-12);
  assert.deepEqual(Array.from(clipped.grads.a!.dataSync()).map((x) => +x.toFixed(5)), [0.6, 0]);
  assert.deepEqual(Array.from(clipped.grads.b!.dataSync()).map((x) => +x.toFixed(5)), [0, 0.8]);
  const kept = clipByGlobalNorm(grads, 10);
  assert.equal(kept.scale, 1);
  assert.deepEqual(Array.from(kept.grads.b!.dataSync()), [0, 4]);
  tf.dispose([...Object.values(clipped.grads), ...Object.values(kept.grads)]);
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => clipByGlobalNorm(grads, 0), /maxNorm to be a positive finite number/);
  tf.dispose(Object.values(grads));
});

test("schedules follow transformers' warmup formulas", () => {
  const constant = lrSchedule({ kind: "constant", lr: 2e-4, totalSteps: 100, warmupRatio: 0.03 }); // warmup ceil(3) = 3
  assert.deepEqual([0, 1, 2, 3, 50].map(constant), [0, 2e-4 / 3, (2 * 2e-4) / 3, 2e-4, 2e-4]);
  const linear = lrSchedule({ kind: "linear", lr: 1, totalSteps: 10, warmupSteps: 2 });
  assert.deepEqual([0, 1, 2, 6, 10].map(linear), [0, 0.5, 1, 0.5, 0]);
  const cosine = lrSchedule({ kind: "cosine", lr: 1, totalSteps: 12, warmupSteps: 2 });
  assert.ok(Math.abs(cosine(2) - 1) < 1e-12 && Math.abs(cosine(7) - 0.5) < 1e-12 && Math.abs(cosine(12)) < 1e-12);
  assert.equal(lrSchedule({ kind: "constant", lr: 0.1 })(0), 0.1);
  assert.throws(() => lrSchedule({ kind: "cosine", lr: 1 }), /totalSteps for a cosine schedule/);
  assert.throws(() => lrSchedule({ kind: "constant", lr: 1, totalSteps: 10, warmupRatio: 2 }), /warmupRatio in \[0, 1\]/);
});
