// The live loss chart sends a bounded number of updates through a (recording) DisplayFunction, only
// the final one with a PNG; without a display it prints a throttled progress line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JUPYTER_DISPLAY, liveLossChart, toDisplayBundle, type DisplayFunction, type DisplayBundle } from "../../../lib/viz/index.js";
import type { StepRecord } from "../../../lib/train/records.js";

/** A DisplayFunction that records what it is shown (the kernel's real one is tested by the kernel). */
function recordingDisplay(): { display: DisplayFunction; shown: DisplayBundle[]; calls: string[] } {
  const shown: DisplayBundle[] = [];
  const calls: string[] = [];
  const display: DisplayFunction = (value) => {
    calls.push("display");
    shown.push(toDisplayBundle((value as { [JUPYTER_DISPLAY](): never })[JUPYTER_DISPLAY]()));
    return {
      displayId: "d1",
      update(next) {
        calls.push("update");
        shown.push(toDisplayBundle((next as { [JUPYTER_DISPLAY](): never })[JUPYTER_DISPLAY]()));
      },
    };
  };
  return { display, shown, calls };
}

function step(run: string, s: number, msPerStep: number): StepRecord {
  return { run, step: s, loss: 3 * Math.exp(-s / 40) + 1, lr: 1e-4, gradNorm: 1, tokensPerSecond: 2048, elapsedMs: s * msPerStep };
}

test("100 steps of 50 ms with a 400 ms throttle: 1 display + at most 14 updates, only the last with a PNG", () => {
  let clock = 0;
  const { display, shown, calls } = recordingDisplay();
  const live = liveLossChart({ display, totalSteps: 100, intervalMs: 400, now: () => clock });
  for (let s = 1; s <= 100; s++) {
    clock = s * 50;
    live.onStep(step("QLoRA", s, 50));
    if (s % 25 === 0) live.onEval({ run: "QLoRA", step: s, loss: 1.5, perplexity: Math.exp(1.5), elapsedMs: s * 50 });
  }
  const final = live.finish();
  // 5000 ms / 400 ms = 12.5 -> sends at t=50, 450, ..., 4850 (13) + the final one.
  assert.equal(calls[0], "display");
  assert.ok(calls.slice(1).every((c) => c === "update"));
  assert.ok(calls.length >= 10 && calls.length <= 15, `${calls.length} sends`);
  assert.equal(live.stats().updates, calls.length);
  for (const bundle of shown.slice(0, -1)) {
    assert.deepEqual(Object.keys(bundle.data).sort(), ["application/vnd.vegalite.v5+json", "text/plain"]);
  }
  const last = shown[shown.length - 1];
  assert.deepEqual(Object.keys(last.data).sort(), ["application/vnd.vegalite.v5+json", "image/png", "text/plain"]);
  assert.match(last.data["text/plain"] as string, /QLoRA/);
  // Finished: the final state, no ETA and no running step counter.
  assert.match(live.progressLine(), /^done · QLoRA 100 steps, loss [\d.]+ \(mean of last 10: [\d.]+\), eval 1\.5 @ 100 · 0:05 in all$/);
  const finalSpec = JSON.stringify(last.data["application/vnd.vegalite.v5+json"]);
  assert.match(finalSpec, /done · QLoRA 100 steps/);
  assert.doesNotMatch(finalSpec, /ETA|\d+\/100/);
  assert.equal(live.finish(), final, "finish is idempotent");
  assert.equal(calls.length, live.stats().updates);
});

test("the progress line carries step/total, tokens/s and an ETA while running", () => {
  const lines: string[] = [];
  let clock = 0;
  const live = liveLossChart({ totalSteps: 100, intervalMs: 1000, print: (l) => lines.push(l), now: () => clock });
  for (let s = 1; s <= 40; s++) {
    clock = s * 100;
    live.onStep(step("LoRA", s, 100));
  }
  assert.match(live.progressLine(), /^LoRA · step 40\/100 \(40%\) · loss [\d.]+ \(mean of last 10: [\d.]+\) · 2,048 tok\/s \(last step\) · 0:04 elapsed · ETA 0:06$/);
  // Sends at t=100, 1100, 2100, 3100 -> 4 lines for 40 steps.
  assert.equal(lines.length, 4);
  live.finish({ tokensPerSecond: 1985.4 });
  assert.match(lines[lines.length - 1], /^done · LoRA 40 steps, .* · 1,985 tok\/s \(mean over training steps\) · 0:04 in all$/, "finish(result) reports the result's mean throughput");
});

/** The chart's subtitle lines joined by "|". */
const subtitleLines = (spec: string) => (JSON.parse(spec).title.subtitle as string[]).join("|");

test("several runs overlay in one live chart; callbacks work detached", () => {
  const { display, shown } = recordingDisplay();
  let clock = 0;
  const { onStep, finish } = liveLossChart({ display, intervalMs: 0, now: () => clock });
  for (const run of ["LoRA", "QLoRA"]) for (let s = 1; s <= 5; s++) onStep(step(run, s, 10)), (clock += 1);
  finish();
  const spec = JSON.stringify(shown[shown.length - 1].data["application/vnd.vegalite.v5+json"]);
  assert.match(subtitleLines(spec), /^done · LoRA 5 steps, [^·]+\|QLoRA 5 steps, [^|]+\|0:00 in all\|/, "the final subtitle: one line per run, then the time");
  assert.match(spec, /"run":"LoRA"/);
  assert.match(spec, /"run":"QLoRA"/);
});

test("liveLossChart rejects a bad totalSteps", () => {
  assert.throws(() => liveLossChart({ totalSteps: 0 }), /liveLossChart: expected totalSteps to be a positive integer/);
});

test("two runs in one chart: progress counts both runs' steps against the total", () => {
  const two = liveLossChart({ totalSteps: 20, intervalMs: 1e9, print: () => {} });
  for (const run of ["LoRA", "QLoRA"]) for (let s = 1; s <= 5; s++) two.onStep(step(run, s, 100));
  assert.match(two.progressLine(), /^QLoRA · step 5 · 10\/20 steps in all \(50%\) · .* · 0:01 elapsed · ETA 0:01$/);
});
