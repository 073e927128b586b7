// Pretrains qlora-lab's base model, a small LLaMA-architecture decoder, on the story corpus and
// writes it to datasets/base-model/ (config.json, model.safetensors beside tokenizer.json).
//
// Config: hidden 96, 4 layers, 4 query heads (head dim 24), 2 key/value heads, SwiGLU 256, vocab
// from tokenizer.json (947), 128 positions, tied embeddings: about 0.5 M parameters, 2 MB float32.
// Recipe: AdamW (betas 0.9/0.95, weight decay 0.1), peak lr 3e-3 with 5 % warmup then cosine, grad
// clip 1.0, 8 packed windows of 128 tokens per step, 600 steps (614 k tokens, about 1.8 epochs); the
// last 100 stories of the corpus are held out. Seed 1234 (init and data order). The shipped run took
// 11 minutes on two shared CPU cores with the wasm backend (~960 tokens/s) and reached a held-out
// loss of 0.83 (perplexity 2.29); base-model/pretrain_summary.json has its figures and a sample.
//
// Run (after make_corpus.ts, make_tasks.ts, make_tokenizer.ts):
//   node --import tsx datasets/pretrain_base.ts [--steps N] [--checkpoint DIR] [--resume DIR]
import { parseArgs } from "node:util";
import { resolveBackend, formatBackendReport } from "../lib/backend.js";
import { loadCorpus } from "../lib/data/index.js";
import { writeFileAtomic } from "../lib/io/atomic_write.js";
import { initLlamaModel, llamaConfig, loadTokenizer, saveModel } from "../lib/model/index.js";
import { AdamW } from "../lib/optim/index.js";
import { train } from "../lib/train/index.js";

/** The base model's shape (tokenizer sets the vocabulary). */
export const BASE_MODEL_SHAPE = { hiddenSize: 96, intermediateSize: 256, numLayers: 4, numHeads: 4, numKvHeads: 2, maxPositionEmbeddings: 128, tieWordEmbeddings: true, rmsNormEps: 1e-5 } as const;
/** Seed of initialisation and data order. */
export const PRETRAIN_SEED = 1234;
/** Optimizer steps of the shipped model. */
export const PRETRAIN_STEPS = 600;
const HELD_OUT = 100;

const { values } = parseArgs({ options: { steps: { type: "string" }, checkpoint: { type: "string" }, resume: { type: "string" }, out: { type: "string" } } });
const out = values.out ?? new URL("./base-model/", import.meta.url).pathname;
const steps = values.steps ? Number(values.steps) : PRETRAIN_STEPS;

console.log(`backend: ${formatBackendReport(await resolveBackend())}`);
const tokenizer = await loadTokenizer(new URL("./base-model/tokenizer.json", import.meta.url).pathname);
const config = llamaConfig({ vocabSize: tokenizer.vocabSize, bosTokenId: tokenizer.bosId, eosTokenId: tokenizer.eosId, ...BASE_MODEL_SHAPE });
const model = initLlamaModel(config, { trainable: "all", seed: PRETRAIN_SEED });
const params = model.trainableVariables().reduce((s, p) => s + p.variable.size, 0);
console.log(`model: ${params} parameters, ${JSON.stringify(BASE_MODEL_SHAPE)}, vocab ${config.vocabSize}`);

const corpus = loadCorpus();
const trainSet = corpus.slice(0, corpus.length - HELD_OUT);
const evalSet = corpus.slice(corpus.length - HELD_OUT);
const optimizer = new AdamW({ betas: [0.9, 0.95], weightDecay: 0.1 });
const started = performance.now();
const result = await train(model, trainSet, {
  run: "pretrain",
  tokenizer,
  packing: true,
  steps,
  batchSize: 8,
  maxLength: 128,
  lr: 3e-3,
  schedule: "cosine",
  warmupRatio: 0.05,
  maxGradNorm: 1.0,
  optimizer,
  seed: PRETRAIN_SEED,
  eval: { examples: evalSet, every: 100, atStart: false, batchSize: 25 },
  ...(values.checkpoint ? { checkpoint: { dir: values.checkpoint, every: 50 } } : {}),
  ...(values.resume ? { resumeFrom: values.resume } : {}),
  callbacks: {
    onStep: (r) => {
      if (r.step % 10 === 0) console.log(`step ${r.step}/${steps}  loss ${r.loss.toFixed(3)}  lr ${r.lr.toExponential(2)}  |g| ${r.gradNorm.toFixed(2)}  ${Math.round(r.tokensPerSecond)} tok/s  ${(r.elapsedMs / 1000).toFixed(0)} s`);
    },
    onEval: (r) => console.log(`eval @${r.step}: loss ${r.loss.toFixed(3)}  perplexity ${r.perplexity.toFixed(2)}`),
  },
});
optimizer.dispose();
const minutes = (performance.now() - started) / 60000;
if (result.stopped) {
  console.log(`stopped at step ${result.stepsDone}; nothing saved${result.checkpoint ? ` (checkpoint: ${result.checkpoint})` : ""}.`);
  process.exit(1);
}
await saveModel(model, out);
const last = result.evals[result.evals.length - 1]!;
const sample = await model.generate([tokenizer.bosId], { maxNewTokens: 100, temperature: 0 });
const summary = {
  seed: PRETRAIN_SEED,
  steps,
  tokensSeen: steps * 8 * 128,
  parameters: params,
  config: BASE_MODEL_SHAPE,
  finalTrainLoss: result.steps[result.steps.length - 1]!.loss,
  heldOutLoss: last.loss,
  heldOutPerplexity: last.perplexity,
  minutes: Number(minutes.toFixed(1)),
  tokensPerSecond: Math.round(result.tokensPerSecond),
  greedySample: tokenizer.decode(sample.ids),
};
writeFileAtomic(`${out}/pretrain_summary.json`, JSON.stringify(summary, null, 2) + "\n");
console.log(JSON.stringify(summary, null, 2));
model.dispose();
