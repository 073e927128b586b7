// Gradient checkpointing benchmark: the same model, batch and adapters trained with and without
// recomputing each decoder block in the backward, measured in the same run. Memory: a MemoryLedger's
// peak of two lib/train steps each way (and the planner's prediction of both). Time: forward+backward
// steps on a fixed batch, the two paths taking turns; the ratio is the median of the per-round ratios.
// Default model: random weights (memory and speed only, not quality) with SmolLM2-135M's blocks
// (576 hidden, 1536 intermediate, 9 heads, 3 KV heads), 4 layers, the shipped tokenizer's vocabulary.
// --preset NAME: a whole preset's shape instead (lib/model/presets.ts, e.g. smollm2-135m); --only-checkpointed
// skips the plain run (for shapes whose plain step does not fit, such as WebAssembly's 4 GiB heap).
// Usage: node --import tsx bench/checkpointing.ts [--method lora|qlora] [--layers N] [--batch N] [--seq-len N] [--steps N]
//        [--preset NAME] [--only-checkpointed]
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { formatBackendReport, resolveBackend } from "../lib/backend.js";
import { loadTask, shippedModelPath } from "../lib/data/index.js";
import { formatBytes } from "../lib/format.js";
import { toLoraModel, toQloraModel, type LoraModel } from "../lib/lora/index.js";
import { MemoryLedger } from "../lib/memory/index.js";
import { configToHf, loadTokenizer, presetConfig, randomModel, type LlamaModel } from "../lib/model/index.js";
import { planMemory, type TfjsBackendKind } from "../lib/plan/index.js";
import { train } from "../lib/train/index.js";

const { values } = parseArgs({
  options: { method: { type: "string", default: "qlora" }, layers: { type: "string", default: "4" }, batch: { type: "string", default: "8" }, "seq-len": { type: "string", default: "128" }, steps: { type: "string", default: "3" }, preset: { type: "string" }, "only-checkpointed": { type: "boolean", default: false } },
});
const method = values.method;
if (method !== "lora" && method !== "qlora") throw new Error(`bench/checkpointing.ts: expected --method lora or qlora, got ${method}`);
const [layers, batch, seqLen, steps] = [values.layers, values.batch, values["seq-len"], values.steps].map(Number) as [number, number, number, number];
const TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
const R = 8;
const QUANT = { quantType: "nf4", doubleQuant: true, blocksize: 64 } as const;

const report = await resolveBackend();
const tokenizer = await loadTokenizer(join(shippedModelPath(), "tokenizer.json"));
const config = values.preset ? presetConfig(values.preset) : { ...presetConfig("smollm2-135m"), numLayers: layers, vocabSize: tokenizer.vocabSize };
const shape = values.preset ?? `random SmolLM2-135M blocks x ${layers}`;
const withPlain = !values["only-checkpointed"];

function adapted(): LoraModel<LlamaModel> {
  const base = randomModel(config, { seed: 1 });
  const lora = { r: R, lora_alpha: 2 * R, target_modules: TARGETS, init_lora_weights: false }; // B random too: every gradient does work
  return method === "lora" ? toLoraModel(base, lora, { seed: 2 }) : toQloraModel(base, lora, QUANT, { seed: 2 });
}

/** The ledger's peak of two lib/train steps (packed windows: every micro-batch is [batch, seqLen]). */
async function peak(gradientCheckpointing: boolean): Promise<{ total: number; activations: number }> {
  const model = adapted();
  try {
    const ledger = new MemoryLedger();
    await train(model, loadTask("home").train, { tokenizer, steps: 2, batchSize: batch, maxLength: seqLen, packing: true, lr: 1e-3, ledger, stopOnSigint: false, gradientCheckpointing });
    const p = ledger.peak();
    return { total: p.totalBytes, activations: p.activations };
  } finally {
    model.dispose();
  }
}

const checkpointed = await peak(true);
const plain = withPlain ? await peak(false) : undefined;
const setup = { method, r: R, targetModules: TARGETS, batch, seqLen, runtime: "tfjs", backend: tf.getBackend() as TfjsBackendKind, ...QUANT } as const;
const planned = [false, true].map((gradientCheckpointing) => planMemory(configToHf(config), { ...setup, gradientCheckpointing }).totalBytes);

// Time: one model, a fixed pseudo-random batch, the two paths in turns.
const model = adapted();
let state = 12345;
const next = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 8) % config.vocabSize;
const rows = Array.from({ length: batch }, () => Array.from({ length: seqLen + 1 }, next));
const ids = tf.tensor2d(rows.map((r) => r.slice(0, -1)), [batch, seqLen], "int32");
const targets = tf.tensor2d(rows.map((r) => r.slice(1)), [batch, seqLen], "int32");
const mask = tf.ones([batch, seqLen]) as tf.Tensor2D;
const variables = model.trainableVariables().map((p) => p.variable);
const timed = (gradientCheckpointing: boolean) => {
  const started = performance.now();
  const { value, grads } = tf.variableGrads(() => model.loss(ids, targets, mask, { gradientCheckpointing }), variables);
  value.dataSync();
  tf.dispose([value, ...Object.values(grads)]);
  return (performance.now() - started) / 1000;
};
if (withPlain) timed(false); // warm-up
timed(true);
const rounds = Array.from({ length: steps }, () => [withPlain ? timed(false) : NaN, timed(true)] as const);
tf.dispose([ids, targets, mask]);
model.dispose();
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const tokens = batch * seqLen;
const [plainSeconds, checkpointedSeconds] = [median(rounds.map((r) => r[0])), median(rounds.map((r) => r[1]))];
const mib = (bytes: number) => formatBytes(bytes);
const off = (plannedBytes: number, measured: number) => `${((100 * (plannedBytes - measured)) / measured).toFixed(2)} % off`;
console.log(`Gradient checkpointing benchmark: ${method} r ${R}, ${shape} (L ${config.numLayers}, C ${config.hiddenSize}, F ${config.intermediateSize}, H ${config.numHeads}, K ${config.numKvHeads}, V ${config.vocabSize}), B ${batch}, T ${seqLen}; random weights; TF.js ${formatBackendReport(report)}`);
if (plain) {
  console.log(`step peak (ledger):  plain ${mib(plain.total)}, checkpointed ${mib(checkpointed.total)}: ratio ${(checkpointed.total / plain.total).toFixed(3)} (-${(100 * (1 - checkpointed.total / plain.total)).toFixed(1)} %)`);
  console.log(`activations (ledger): plain ${mib(plain.activations)}, checkpointed ${mib(checkpointed.activations)}: ratio ${(checkpointed.activations / plain.activations).toFixed(3)}`);
  console.log(`planner (runtime tfjs): plain ${mib(planned[0]!)} (${off(planned[0]!, plain.total)}), checkpointed ${mib(planned[1]!)} (${off(planned[1]!, checkpointed.total)})`);
} else {
  console.log(`step peak (ledger): checkpointed ${mib(checkpointed.total)} (activations ${mib(checkpointed.activations)}); plain not run`);
  console.log(`planner (runtime tfjs): checkpointed ${mib(planned[1]!)} (${off(planned[1]!, checkpointed.total)}), plain ${mib(planned[0]!)} (planned only)`);
}
const timing = (seconds: number) => `${(seconds * 1000).toFixed(0)} ms (${(tokens / seconds).toFixed(0)} tokens/s)`;
console.log(
  `time (forward+backward, median of ${steps}): ${plain ? `plain ${timing(plainSeconds)}, ` : ""}checkpointed ${timing(checkpointedSeconds)}${plain ? `: ratio ${median(rounds.map(([p, c]) => c / p)).toFixed(2)}` : ""}`,
);
