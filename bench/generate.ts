// Generation benchmark: greedy tokens/s of the same LLaMA and adapters with the adapter separate, merged
// into a float32 base, on a bfloat16 base (separate, and merged into it), and (QLoRA) on the 4-bit base, separate and
// merged-and-requantized; beside PyTorch's
// greedy decoding with a KV cache on the same weights (separate and merged), run after ours in the same
// process tree with the same number of threads. Default model: bench/step.ts's (C 256, L 4, V 512);
// --model PRESET (e.g. smollm2-135m): that published shape with random weights (speed, not quality).
// Usage: node --import tsx bench/generate.ts [--model PRESET] [--tokens N] [--prompt-len N] [--threads N]
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { formatBackendReport, resolveBackend } from "../lib/backend.js";
import { BLOCK_LINEARS, llamaConfig, presetConfig, randomModel, saveModel, type LlamaModel } from "../lib/model/index.js";
import { mergeAndUnload, toLora16Model, toLoraModel, toQloraModel, type LoraConfig } from "../lib/lora/index.js";
import { adapterJson } from "./adapter_json.js";

const { values } = parseArgs({ options: { model: { type: "string" }, tokens: { type: "string", default: "64" }, "prompt-len": { type: "string", default: "16" }, threads: { type: "string" } } });
const count = (flag: string, raw: string | undefined, fallback: number) => {
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`bench/generate.ts: expected --${flag} to be a positive integer, got ${raw}`);
  return n;
};
const tokens = count("tokens", values.tokens, 64);
const promptLength = count("prompt-len", values["prompt-len"], 16);
const threads = count("threads", values.threads, availableParallelism());
const CONFIG = values.model
  ? presetConfig(values.model)
  : llamaConfig({ vocabSize: 512, hiddenSize: 256, intermediateSize: 688, numLayers: 4, numHeads: 8, numKvHeads: 4, maxPositionEmbeddings: 128, rmsNormEps: 1e-5, tieWordEmbeddings: true });
const report = await resolveBackend({ env: { ...process.env, QLORA_LAB_THREADS: String(threads) } });

// init_lora_weights false: B is random, so the adapter changes the output (and the merge has work to do).
const loraConfig: Partial<LoraConfig> = { r: 8, lora_alpha: 16, target_modules: [...BLOCK_LINEARS].map((m) => m.split(".")[1]!), init_lora_weights: false };
const prompt = Array.from({ length: promptLength }, (_, i) => (i * 7919 + 1) % CONFIG.vocabSize);
const freshBase = () => randomModel(CONFIG, { seed: 1 }); // the same weights each time

async function tokensPerSecond(model: LlamaModel | { generate: LlamaModel["generate"] }): Promise<{ speed: number; ids: number[] }> {
  await model.generate(prompt, { maxNewTokens: 2, temperature: 0, eosTokenId: null }); // warm up kernels
  const started = performance.now();
  const { ids } = await model.generate(prompt, { maxNewTokens: tokens, temperature: 0, eosTokenId: null });
  return { speed: (ids.length / (performance.now() - started)) * 1000, ids };
}

const dir = mkdtempSync(join(tmpdir(), "qlora-lab-bench-"));
try {
  const base = freshBase();
  await saveModel(base, dir); // before adapters exist, as PyTorch reads it
  const lora = toLoraModel(base, loraConfig, { seed: 2 });
  writeFileSync(join(dir, "lora.json"), adapterJson(lora));
  writeFileSync(join(dir, "prompt.json"), JSON.stringify(prompt));
  const ours: Record<string, { speed: number; ids: number[] }> = {};
  ours.separate = await tokensPerSecond(lora);
  mergeAndUnload(lora, { strategy: "float32" });
  ours.merged = await tokensPerSecond(base);
  base.dispose();

  const base16 = freshBase();
  const lora16 = toLora16Model(base16, loraConfig, "bf16", { seed: 2 });
  ours["bfloat16 base, separate"] = await tokensPerSecond(lora16);
  mergeAndUnload(lora16); // rounded to bfloat16 again
  ours["bfloat16 base, merged"] = await tokensPerSecond(base16);
  base16.dispose();

  const qbase = freshBase();
  const qlora = toQloraModel(qbase, loraConfig, {}, { seed: 2 });
  ours["4-bit separate"] = await tokensPerSecond(qlora);
  mergeAndUnload(qlora, { strategy: "requantize" });
  ours["4-bit merged, requantized"] = await tokensPerSecond(qbase);
  qbase.dispose();

  const python = process.env.QLORA_LAB_PYTHON ?? "/usr/bin/python3";
  const peer = spawnSync(python, [new URL("./generate_torch.py", import.meta.url).pathname, dir, join(dir, "lora.json"), join(dir, "prompt.json"), String(tokens), "--threads", String(threads)], { encoding: "utf8", maxBuffer: 1 << 26 });
  const torch = peer.status === 0 ? (JSON.parse(peer.stdout.trim().split("\n").pop()!) as { torch: string; threads: number; separate: { tokens_per_second: number; ids: number[] }; merged: { tokens_per_second: number; ids: number[] } }) : undefined;

  console.log(`Greedy generation benchmark${values.model ? ` (${values.model} shape, random weights)` : ""}: C ${CONFIG.hiddenSize}, L ${CONFIG.numLayers}, V ${CONFIG.vocabSize}; prompt ${promptLength} tokens, ${tokens} new (prefill included); LoRA r 8 on ${BLOCK_LINEARS.length} projections per block`);
  console.log(`TF.js ${formatBackendReport(report)}; threads ${report.products.threads}`);
  if (torch) console.log(`PyTorch ${torch.torch} CPU; threads ${torch.threads}`);
  else console.log(`PyTorch: not run (${peer.error?.message ?? (peer.stderr.trim().split("\n").pop() || "no /usr/bin/python3 with torch")})`);
  const agree = (a: number[], b: number[]) => a.findIndex((id, i) => id !== b[i]) === -1 ? a.length : a.findIndex((id, i) => id !== b[i]);
  for (const [name, run] of Object.entries(ours)) {
    const peerRun = torch && (name === "separate" || name === "merged") ? torch[name] : undefined;
    const beside = peerRun ? `   PyTorch ${peerRun.tokens_per_second.toFixed(1)} tok/s, ratio ${(run.speed / peerRun.tokens_per_second).toFixed(2)}, first ${agree(run.ids, peerRun.ids)}/${tokens} greedy ids equal` : "";
    console.log(`  ${name.padEnd(26)} ${run.speed.toFixed(1).padStart(8)} tok/s${beside}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
