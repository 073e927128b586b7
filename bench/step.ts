// Training-step benchmark: forward + backward (every weight, embeddings included) of a fixed small
// LLaMA on the active TF.js backend, against the identical model and batch in PyTorch (CPU), run in
// the same process tree. Config: C 256, L 4, H 8, K 4 (GQA), F 688, V 512, B 8, T 128 (about 3.0M
// parameters, 1,024 tokens per step). Usage: node --import tsx bench/step.ts [--steps N]
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { formatBackendReport, resolveBackend } from "../lib/backend.js";
import { initLlamaModel, llamaConfig, saveModel } from "../lib/model/index.js";

const CONFIG = llamaConfig({ vocabSize: 512, hiddenSize: 256, intermediateSize: 688, numLayers: 4, numHeads: 8, numKvHeads: 4, maxPositionEmbeddings: 128, rmsNormEps: 1e-5, tieWordEmbeddings: true });
const [BATCH, TIME] = [8, 128];

const { values } = parseArgs({ options: { steps: { type: "string", default: "5" }, warmup: { type: "string", default: "2" }, profile: { type: "boolean", default: false } } });
const steps = Number(values.steps);
const warmup = Number(values.warmup);

const report = await resolveBackend();
const model = initLlamaModel(CONFIG, { trainable: "all", seed: 1 });
const params = model.trainableVariables();
const paramCount = params.reduce((n, p) => n + p.variable.size, 0);

// A fixed pseudo-random batch (same in both frameworks: PyTorch reads it from a file).
let state = 12345;
const next = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 8) % CONFIG.vocabSize;
const rows = Array.from({ length: BATCH }, () => Array.from({ length: TIME + 1 }, next));
const ids = tf.tensor2d(rows.map((r) => r.slice(0, -1)), [BATCH, TIME], "int32");
const targets = tf.tensor2d(rows.map((r) => r.slice(1)), [BATCH, TIME], "int32");
const mask = tf.ones([BATCH, TIME]) as tf.Tensor2D;

function step(): number {
  const { value, grads } = tf.variableGrads(() => model.loss(ids, targets, mask), params.map((p) => p.variable));
  const loss = value.dataSync()[0]!;
  tf.dispose([value, ...Object.values(grads)]);
  return loss;
}

for (let i = 0; i < warmup; i++) step();
let loss = 0;
const started = performance.now();
for (let i = 0; i < steps; i++) loss = step();
const tfSeconds = (performance.now() - started) / 1000 / steps;

if (values.profile) {
  const profile = await tf.profile(() => {
    step();
  });
  const byKernel = new Map<string, number>();
  for (const k of profile.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0));
  const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
  console.log(`per-kernel time of one step (${total.toFixed(0)} ms in kernels, ${profile.kernels.length} kernel calls):`);
  for (const [name, ms] of [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${name.padEnd(22)} ${ms.toFixed(1).padStart(8)} ms  ${((100 * ms) / total).toFixed(1).padStart(5)}%`);
}

const dir = mkdtempSync(join(tmpdir(), "qlora-lab-bench-"));
let torch: { loss: number; seconds_per_step: number; threads: number; torch: string } | undefined;
let torchError = "";
try {
  await saveModel(model, dir);
  writeFileSync(join(dir, "batch.json"), JSON.stringify({ ids: rows.map((r) => r.slice(0, -1)), targets: rows.map((r) => r.slice(1)) }));
  const run = spawnSync(process.env.QLORA_LAB_PYTHON ?? "/usr/bin/python3", [new URL("./step_torch.py", import.meta.url).pathname, dir, join(dir, "batch.json"), String(warmup), String(steps)], { encoding: "utf8" });
  if (run.status === 0) torch = JSON.parse(run.stdout.trim().split("\n").pop()!);
  else torchError = (run.stderr || run.error?.message || "").trim().split("\n").pop() ?? "";
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const tokens = BATCH * TIME;
console.log(`LLaMA step benchmark: C ${CONFIG.hiddenSize}, L ${CONFIG.numLayers}, H ${CONFIG.numHeads}, K ${CONFIG.numKvHeads}, F ${CONFIG.intermediateSize}, V ${CONFIG.vocabSize}, B ${BATCH}, T ${TIME}; ${(paramCount / 1e6).toFixed(2)}M parameters, all trained`);
console.log(`TF.js ${formatBackendReport(report)}: ${(tfSeconds * 1000).toFixed(0)} ms/step, ${(tokens / tfSeconds).toFixed(0)} tokens/s (loss ${loss.toFixed(4)})`);
if (torch) {
  console.log(`PyTorch ${torch.torch} CPU, ${torch.threads} thread(s): ${(torch.seconds_per_step * 1000).toFixed(0)} ms/step, ${(tokens / torch.seconds_per_step).toFixed(0)} tokens/s (loss ${torch.loss.toFixed(4)})`);
  console.log(`ratio TF.js / PyTorch: ${(torch.seconds_per_step / tfSeconds).toFixed(2)}  (same weights and batch; loss difference ${Math.abs(torch.loss - loss).toExponential(1)})`);
} else {
  console.log(`PyTorch: not run (${torchError || "no /usr/bin/python3 with torch"})`);
}
model.dispose();
