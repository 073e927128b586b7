// Training-step benchmark: forward + backward of a fixed small LLaMA on the active TF.js backend,
// against the identical model and batch in PyTorch (CPU), run in the same process tree. Config: C 256,
// L 4, H 8, K 4 (GQA), F 688, V 512, B 8, T 128 (about 3.0M parameters, 1,024 tokens per step).
// --method lora (default): LoRA r 8 on all seven block projections, the base frozen on both sides
// (only A and B get gradients); --method full: every weight, embeddings included. The two frameworks
// take turns step by step and the ratio is the median of the per-round ratios. --method qlora: the base
// linears in NF4 (double-quantized, blocks of 64, the head in float32) under the same adapters; PyTorch
// has no 4-bit product on CPU, so its side is the LoRA step on the float base; --method lora16: the base
// linears in bfloat16, widened for each product (PyTorch's side: the float32 base again). --threads N (default
// every core): the native product engine's threads (QLORA_LAB_THREADS) and PyTorch's (torch.set_num_threads).
// --model PRESET (e.g. smollm2-135m): a model of that published shape with random weights (it measures
// speed, not quality) and a batch of 4 x 256 unless --batch / --seq-len say otherwise.
// Usage: node --import tsx bench/step.ts [--method lora|lora16|qlora|full] [--model PRESET] [--batch B] [--seq-len T]
//        [--threads N] [--steps N] [--warmup N] [--profile]   (--profile: one more step's time by TF.js kernel and by native product shape)
// QLORA_LAB_PRODUCTS=tfjs runs the products on TF.js's own kernels instead of the native engine.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { formatBackendReport, resolveBackend } from "../lib/backend.js";
import { BLOCK_LINEARS, expectedWeightShapes, initLlamaModel, llamaConfig, presetConfig, randomModel, saveModel } from "../lib/model/index.js";
import { toLora16Model, toLoraModel, toQloraModel } from "../lib/lora/index.js";
import { NativeEngine } from "../lib/ops/native/engine.js";
import { adapterJson } from "./adapter_json.js";

const R = 8;

const { values } = parseArgs({ options: { method: { type: "string", default: "lora" }, model: { type: "string" }, batch: { type: "string" }, "seq-len": { type: "string" }, threads: { type: "string" }, steps: { type: "string", default: "5" }, warmup: { type: "string", default: "2" }, profile: { type: "boolean", default: false } } });
const CONFIG = values.model
  ? presetConfig(values.model)
  : llamaConfig({ vocabSize: 512, hiddenSize: 256, intermediateSize: 688, numLayers: 4, numHeads: 8, numKvHeads: 4, maxPositionEmbeddings: 128, rmsNormEps: 1e-5, tieWordEmbeddings: true });
const positiveInteger = (flag: string, raw: string | undefined, fallback: number) => {
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`bench/step.ts: expected --${flag} to be a positive integer, got ${raw}`);
  return n;
};
const BATCH = positiveInteger("batch", values.batch, values.model ? 4 : 8);
const TIME = positiveInteger("seq-len", values["seq-len"], values.model ? 256 : 128);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const method = values.method;
if (method !== "lora" && method !== "lora16" && method !== "qlora" && method !== "full") throw new Error(`bench/step.ts: expected --method lora, lora16, qlora or full, got ${method}`);
const threads = values.threads === undefined ? availableParallelism() : Number(values.threads);
if (!Number.isInteger(threads) || threads < 1) throw new Error(`bench/step.ts: expected --threads to be a positive integer, got ${values.threads}`);

const report = await resolveBackend({ env: { ...process.env, QLORA_LAB_THREADS: String(threads) } });
// A preset's model: N(0, 0.02) weights, float32 here (PyTorch reads the same file; QLoRA quantizes it below).
const model = values.model ? randomModel(CONFIG, { seed: 1 }) : initLlamaModel(CONFIG, { trainable: method === "full" ? "all" : "none", seed: 1 });
if (values.model && method === "full") throw new Error("bench/step.ts: --method full runs on the default model only (a preset's random model is frozen)");
// The base as PyTorch reads it, written before adapters exist (a LoRA layer's dense weight includes its delta).
const dir = mkdtempSync(join(tmpdir(), "qlora-lab-bench-"));
await saveModel(model, dir);
// init_lora_weights false: B is random too, so A's gradient is not zero (the work is the same either way).
const loraConfig = { r: R, lora_alpha: 2 * R, target_modules: [...BLOCK_LINEARS].map((m) => m.split(".")[1]!), init_lora_weights: false };
const lora =
  method === "lora" ? toLoraModel(model, loraConfig, { seed: 2 }) : method === "lora16" ? toLora16Model(model, loraConfig, "bf16", { seed: 2 }) : method === "qlora" ? toQloraModel(model, loraConfig, {}, { seed: 2 }) : undefined;
const params = lora ? lora.trainableVariables() : model.trainableVariables();
const paramCount = [...expectedWeightShapes(CONFIG).values()].reduce((n, shape) => n + shape.reduce((a, b) => a * b, 1), 0);
const trainedCount = params.reduce((n, p) => n + p.variable.size, 0);

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

/** The PyTorch side as a child process that runs one timed step per request (see step_torch.py --serve). */
interface TorchPeer {
  info: { threads: number; torch: string };
  step(): Promise<{ loss: number; seconds: number }>;
  close(): void;
}

async function startTorch(dir: string): Promise<TorchPeer> {
  writeFileSync(join(dir, "batch.json"), JSON.stringify({ ids: rows.map((r) => r.slice(0, -1)), targets: rows.map((r) => r.slice(1)) }));
  const args = [new URL("./step_torch.py", import.meta.url).pathname, dir, join(dir, "batch.json"), "--serve", "--threads", String(threads)];
  if (lora) {
    writeFileSync(join(dir, "lora.json"), adapterJson(lora));
    args.push("--lora", join(dir, "lora.json"));
  }
  const child = spawn(process.env.QLORA_LAB_PYTHON ?? "/usr/bin/python3", args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const line = await lines.next();
    if (line.done) throw new Error(stderr.trim().split("\n").pop() || "the PyTorch process ended");
    return JSON.parse(line.value);
  };
  const spawned = new Promise<never>((_, reject) => child.once("error", reject));
  spawned.catch(() => {}); // a late error surfaces as the stream ending
  const info = await Promise.race([next(), spawned]);
  return {
    info,
    step: () => {
      child.stdin.write("step\n");
      return next();
    },
    close: () => child.stdin.end(),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const timeTf = () => {
  const started = performance.now();
  const loss = step();
  return { loss, seconds: (performance.now() - started) / 1000 };
};

// The frameworks take turns step by step, so load from other processes hits both alike; the ratio
// reported is the median of the per-round ratios.
let torch: TorchPeer | undefined;
let torchError = "";
try {
  torch = await startTorch(dir);
} catch (error) {
  torchError = error instanceof Error ? error.message : String(error);
}
const tfTimes: number[] = [];
const torchTimes: number[] = [];
let loss = 0;
let torchLoss = 0;
try {
  for (let i = 0; i < warmup + steps; i++) {
    const tfStep = timeTf();
    const torchStep = torch ? await torch.step() : undefined;
    if (i < warmup) continue;
    loss = tfStep.loss;
    tfTimes.push(tfStep.seconds);
    if (torchStep) {
      torchTimes.push(torchStep.seconds);
      torchLoss = torchStep.loss;
    }
  }
} finally {
  torch?.close();
  rmSync(dir, { recursive: true, force: true });
}

if (values.profile) {
  const products = timeNativeProducts();
  const profile = await tf.profile(() => {
    step();
  });
  products.report();
  const byKernel = new Map<string, number>();
  for (const k of profile.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + (typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0));
  const total = [...byKernel.values()].reduce((a, b) => a + b, 0);
  console.log(`per-kernel time of one step (${total.toFixed(0)} ms in kernels, ${profile.kernels.length} kernel calls):`);
  for (const [name, ms] of [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${name.padEnd(22)} ${ms.toFixed(1).padStart(8)} ms  ${((100 * ms) / total).toFixed(1).padStart(5)}%`);
}

/**
 * Times every product the native engine makes until report(), by shape: where a step's product time goes
 * and at what GFLOP/s (a small-K product is bound by writing its output, not by arithmetic).
 */
function timeNativeProducts(): { report(): void } {
  const byShape = new Map<string, { calls: number; ms: number; flop: number }>();
  const original = NativeEngine.prototype.product;
  NativeEngine.prototype.product = function (a, b, transposeA, transposeB, out) {
    const started = performance.now();
    original.call(this, a, b, transposeA, transposeB, out);
    const k = a.shape[a.shape.length - (transposeA ? 2 : 1)]!;
    const key = `${a.shape.join("x")}${transposeA ? "T" : ""} @ ${b.shape.join("x")}${transposeB ? "T" : ""}`;
    const entry = byShape.get(key) ?? { calls: 0, ms: 0, flop: 0 };
    entry.calls++;
    entry.ms += performance.now() - started;
    entry.flop += 2 * out.data.length * k;
    byShape.set(key, entry);
  };
  return {
    report() {
      NativeEngine.prototype.product = original;
      if (byShape.size === 0) return;
      const total = [...byShape.values()].reduce((sum, e) => sum + e.ms, 0);
      console.log(`native products of that step by shape (${total.toFixed(0)} ms):`);
      for (const [shape, e] of [...byShape].sort((x, y) => y[1].ms - x[1].ms).slice(0, 15)) {
        console.log(`  ${shape.padEnd(30)} ${String(e.calls).padStart(3)} calls ${e.ms.toFixed(1).padStart(7)} ms ${(e.flop / e.ms / 1e6).toFixed(0).padStart(5)} GFLOP/s`);
      }
    },
  };
}

const tokens = BATCH * TIME;
const tfSeconds = median(tfTimes);
const trained = lora ? `${method === "qlora" ? "QLoRA (NF4 base)" : method === "lora16" ? "LoRA (bfloat16 base)" : "LoRA"} r ${R} on ${BLOCK_LINEARS.length} projections per block, ${(trainedCount / 1e3).toFixed(0)}K parameters trained, base frozen` : "all trained";
console.log(`LLaMA step benchmark${values.model ? ` (${values.model} shape, random weights)` : ""}: C ${CONFIG.hiddenSize}, L ${CONFIG.numLayers}, H ${CONFIG.numHeads}, K ${CONFIG.numKvHeads}, F ${CONFIG.intermediateSize}, V ${CONFIG.vocabSize}, B ${BATCH}, T ${TIME}; ${(paramCount / 1e6).toFixed(2)}M parameters, ${trained}; ${steps} rounds after ${warmup} warm-up (medians)`);
console.log(`TF.js ${formatBackendReport(report)}; threads ${report.products.threads}: ${(tfSeconds * 1000).toFixed(0)} ms/step, ${(tokens / tfSeconds).toFixed(0)} tokens/s (loss ${loss.toFixed(4)})`);
if (torch && torchTimes.length > 0) {
  const torchSeconds = median(torchTimes);
  const ratio = median(torchTimes.map((t, i) => t / tfTimes[i]!));
  console.log(`PyTorch ${torch.info.torch} CPU${method === "qlora" || method === "lora16" ? " (LoRA on the float32 base)" : ""}; threads ${torch.info.threads}: ${(torchSeconds * 1000).toFixed(0)} ms/step, ${(tokens / torchSeconds).toFixed(0)} tokens/s (loss ${torchLoss.toFixed(4)})`);
  console.log(`ratio TF.js / PyTorch: ${ratio.toFixed(2)}  (median of per-round ratios; same weights and batch; loss difference ${Math.abs(torchLoss - loss).toExponential(1)})`);
} else {
  console.log(`PyTorch: not run (${torchError || "no /usr/bin/python3 with torch"})`);
}
model.dispose(); // with its adapters
