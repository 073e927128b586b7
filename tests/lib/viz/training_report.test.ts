// The HTML training report: each chart's SVG carries a text alternative (role="img", aria-label and
// <title>) that says what it shows with the run's own key numbers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { trainingReportHtml } from "../../../lib/viz/index.js";
import type { StepRecord } from "../../../lib/train/records.js";

test("the report's charts have alt text with their key numbers", () => {
  const steps: StepRecord[] = [];
  for (let s = 1; s <= 20; s++)
    steps.push({ run: "QLoRA", step: s, loss: 3 - 0.1 * s, lr: 1e-3, gradNorm: 1, tokensPerSecond: 1000, elapsedMs: 100 * s, memory: { base_packed: 1000 + (s === 12 ? 2048 : 0), lora_params: 4096 } });
  const evals = [0, 20].map((step) => ({ run: "QLoRA", step, loss: step ? 1.25 : 3.5, perplexity: 1, elapsedMs: 100 * step }));
  const html = trainingReportHtml({ title: "run <1>", steps, evals });
  const labels = [...html.matchAll(/<svg[^>]* role="img" aria-label="([^"]+)"><title>([^<]+)<\/title>/g)];
  assert.equal(labels.length, 2, "loss and memory charts each have one");
  for (const [, aria, title] of labels) assert.equal(aria, title);
  const [loss, memory] = labels.map((m) => m[1]!);
  assert.match(loss!, /^Line chart of loss against training step\. QLoRA: train loss 2\.9 at step 1 to 1 at step 20 \(mean of the last 10 steps 1\.45\); eval loss 3\.5 at step 0, 1\.25 at step 20\.$/);
  assert.match(memory!, /^Stacked area chart of resident memory by category at each step, 20 steps\. Peak 6\.98 KiB at step 12: LoRA A and B 4 KiB, base weights, 4-bit codes 2\.98 KiB\.$/);
  assert.doesNotMatch(html, /alt=""|aria-label=""/);
});
