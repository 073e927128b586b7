// The training loop: loss goes down, records are complete, gradient accumulation equals a larger
// batch, stop()/AbortSignal/SIGINT end a run between steps, and a resumed run continues the same
// loss curve as an uninterrupted one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { evaluateLoss, exactMatchAccuracy, train, type StepRecord } from "../../../lib/train/index.js";
import { loadTask } from "../../../lib/data/index.js";
import { shippedTokenizer, tinyModel } from "./helpers.js";

const data = loadTask("qa").train.slice(0, 64);

test("a run lowers the loss, emits complete records and leaks no tensors", async () => {
  const tok = await shippedTokenizer();
  const model = tinyModel(tok.vocabSize);
  const before = tf.memory().numTensors;
  const seen: StepRecord[] = [];
  const result = await train(model, data, {
    tokenizer: tok, steps: 12, batchSize: 8, lr: 1e-2, run: "tiny", schedule: "cosine", warmupRatio: 0.25,
    eval: { examples: data.slice(0, 16), every: 6 },
    callbacks: { onStep: (r) => void seen.push(r) },
  });
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
  assert.equal(result.stepsDone, 12);
  assert.equal(result.stopped, false);
  assert.deepEqual(seen, result.steps);
  assert.deepEqual(result.evals.map((e) => e.step), [0, 6, 12]);
  assert.ok(result.evals[2]!.loss < result.evals[0]!.loss - 0.5, `eval loss fell: ${result.evals.map((e) => e.loss.toFixed(3))}`);
  const r = result.steps[0]!;
  assert.equal(r.run, "tiny");
  assert.equal(r.lr, 0, "warmup starts at 0");
  assert.ok(Math.abs(result.steps[3]!.lr - 1e-2) < 1e-12, "peak after 3 warmup steps");
  assert.ok(result.steps[11]!.lr < 1e-3, "cosine decays");
  assert.ok(r.gradNorm > 0 && r.tokensPerSecond > 0 && r.elapsedMs > 0);
  assert.ok(r.memory!.base_dense! > 0 && r.memory!.optimizer_resident === 2 * r.memory!.base_dense! && r.memory!.gradients === r.memory!.base_dense);
  assert.ok(r.memory!.activations! > 0);
  assert.ok(Math.abs(result.evals[2]!.perplexity - Math.exp(result.evals[2]!.loss)) < 1e-6);
  model.dispose();
});

test("gradient accumulation of 2 x 4 equals one batch of 8", async () => {
  const tok = await shippedTokenizer();
  const run = async (batchSize: number, accumulation: number) => {
    const model = tinyModel(tok.vocabSize);
    const result = await train(model, data, { tokenizer: tok, steps: 3, batchSize, gradientAccumulationSteps: accumulation, lr: 1e-2, warmupRatio: 0, maxGradNorm: null });
    const weights = Array.from(model.trainableVariables()[0]!.variable.dataSync());
    model.dispose();
    return { losses: result.steps.map((s) => s.loss), norms: result.steps.map((s) => s.gradNorm), weights };
  };
  const big = await run(8, 1);
  const accumulated = await run(4, 2);
  big.losses.forEach((l, i) => assert.ok(Math.abs(l - accumulated.losses[i]!) < 1e-4, `loss ${i}: ${l} vs ${accumulated.losses[i]}`));
  big.norms.forEach((n, i) => assert.ok(Math.abs(n - accumulated.norms[i]!) < 1e-3 * n, `norm ${i}`));
  const maxDiff = Math.max(...big.weights.map((w, i) => Math.abs(w - accumulated.weights[i]!)));
  assert.ok(maxDiff < 1e-5, `weights agree (max diff ${maxDiff})`);
});

test("an interrupted run resumes from its checkpoint to the same losses as an uninterrupted one", async () => {
  const tok = await shippedTokenizer();
  const dir = mkdtempSync(join(tmpdir(), "qlora-ckpt-"));
  try {
    const options = { tokenizer: tok, steps: 8, batchSize: 4, lr: 5e-3, schedule: "cosine" as const, warmupRatio: 0.2, seed: 11 };
    const straight = tinyModel(tok.vocabSize);
    const reference = await train(straight, data, options);
    straight.dispose();

    const first = tinyModel(tok.vocabSize);
    const run = train(first, data, { ...options, checkpoint: { dir, every: 2 }, callbacks: { onStep: (r) => void (r.step === 5 && run.stop()) } });
    const partial = await run;
    assert.equal(partial.stopped, true);
    assert.equal(partial.stepsDone, 5);
    assert.ok(partial.checkpoint?.endsWith("step-000005"), "a stopped run checkpoints where it stopped");
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith("step-")).sort(), ["step-000004", "step-000005"], "keeps the newest two");
    assert.equal(JSON.parse(readFileSync(join(dir, "latest.json"), "utf8")).step, 5);
    // The stopped model is consistent: it evaluates and keeps training.
    const usable = await evaluateLoss(first, data.slice(0, 8), { tokenizer: tok });
    assert.ok(Number.isFinite(usable.loss));
    first.dispose();

    const fresh = tinyModel(tok.vocabSize); // same init; the checkpoint restores weights and optimizer
    const resumed = await train(fresh, data, { ...options, resumeFrom: dir });
    fresh.dispose();
    assert.equal(resumed.steps.length, 8);
    const got = resumed.steps.map((s) => s.loss);
    const want = reference.steps.map((s) => s.loss);
    got.forEach((l, i) => assert.ok(Math.abs(l - want[i]!) < 1e-5, `step ${i + 1}: resumed ${l} vs straight ${want[i]}`));
    assert.deepEqual(resumed.steps.map((s) => s.lr), reference.steps.map((s) => s.lr));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an aborted signal or SIGINT stops between steps and leaves the model usable", async () => {
  const tok = await shippedTokenizer();
  const model = tinyModel(tok.vocabSize);
  const controller = new AbortController();
  controller.abort();
  const none = await train(model, data, { tokenizer: tok, steps: 5, signal: controller.signal });
  assert.equal(none.stepsDone, 0);
  assert.equal(none.stopped, true);

  const listeners = process.listenerCount("SIGINT");
  const interrupted = await train(model, data, { tokenizer: tok, steps: 50, batchSize: 2, callbacks: { onStep: (r) => void (r.step === 2 && process.emit("SIGINT", "SIGINT")) } });
  assert.equal(interrupted.stepsDone, 2);
  assert.equal(interrupted.stopped, true);
  assert.equal(process.listenerCount("SIGINT"), listeners, "the SIGINT handler is removed after the run");
  const after = await evaluateLoss(model, data.slice(0, 4), { tokenizer: tok });
  assert.ok(Number.isFinite(after.loss));
  model.dispose();
});

test("exact match compares the greedy answer up to a newline", async () => {
  const tok = await shippedTokenizer();
  const answers = [" Tom\nQ: more", " Mia.", " Ben"];
  let i = 0;
  const fake = {
    loss: () => tf.scalar(0),
    trainableVariables: () => [],
    generate: async () => ({ ids: tok.encode(answers[i++]!, { bos: false }) }),
  };
  const examples = [{ prompt: "a", response: " Tom" }, { prompt: "b", response: " Mia" }, { prompt: "c", response: " Ben" }];
  assert.equal(await exactMatchAccuracy(fake, examples, { tokenizer: tok }), 2 / 3);
});

test("bad options are refused with the field named", async () => {
  const tok = await shippedTokenizer();
  const model = tinyModel(tok.vocabSize);
  await assert.rejects(train(model, data, { tokenizer: tok, steps: 0 }), /steps to be a positive integer/);
  await assert.rejects(train(model, [], { tokenizer: tok, steps: 1 }), /non-empty array of examples/);
  await assert.rejects(train(model, data, { tokenizer: tok, steps: 1, resumeFrom: "/nonexistent/ck" }), /checkpoint folder/);
  assert.equal(existsSync("/nonexistent/ck"), false);
  model.dispose();
});

test("with a MemoryLedger, step records carry the profiled peak by category", async () => {
  const { MemoryLedger } = await import("../../../lib/memory/index.js");
  const tok = await shippedTokenizer();
  const model = tinyModel(tok.vocabSize);
  const ledger = new MemoryLedger();
  const result = await train(model, data, { tokenizer: tok, steps: 2, batchSize: 4, ledger });
  const memory = result.steps[1]!.memory!;
  assert.ok(memory.activations! > 0 && memory.base_dense! > 0 && memory.gradients! > 0 && memory.optimizer_resident! > 0, JSON.stringify(memory));
  const phases = ledger.timeline().map((p) => p.phase);
  assert.ok(phases.includes("forward+backward") && phases.includes("optimizer"));
  assert.equal(ledger.timeline().find((p) => p.phase === "forward+backward" && p.at === "peak")!.step, 1);
  model.dispose();
});

test("a real SIGINT sent to the process stops the loop between steps and the script finishes normally", async () => {
  const { spawn } = await import("node:child_process");
  const script = new URL("./fixtures/sigint_run.ts", import.meta.url).pathname;
  const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let sent = false;
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    if (!sent && out.includes("step 3\n")) {
      sent = true;
      child.kill("SIGINT");
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 0, out);
  const result = JSON.parse(out.trim().split("\n").pop()!);
  assert.equal(result.stopped, true);
  assert.ok(result.stepsDone >= 3 && result.stepsDone < 50, `stopped at step ${result.stepsDone}`);
  assert.equal(result.finite, true);
});
