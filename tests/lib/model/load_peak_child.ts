// Run as child processes by load_peak.test.ts, so that the measuring process starts small and its peak
// resident size is its own: `write DIR` saves a random-weight smollm2-135m as a sharded bfloat16
// checkpoint; `load DIR` loads it into NF4 with double quantization and prints, as one JSON line, the
// resident size before loading, the peak resident size after (process.resourceUsage().maxRSS, the
// kernel's own counter) and the ledger's account of the loaded model by category.
import { resolveBackend } from "../../../lib/backend.js";
import { MemoryLedger } from "../../../lib/memory/index.js";
import { loadModel, randomModel } from "../../../lib/model/index.js";
import { writeShardedBf16 } from "./sharded_checkpoint.js";

const [mode, dir] = process.argv.slice(2) as [string, string];
await resolveBackend();
if (mode === "write") {
  const source = randomModel("smollm2-135m", { storage: "bf16", seed: 5 });
  const shards = writeShardedBf16(source, dir, 100 * 2 ** 20);
  source.dispose();
  process.stdout.write(`${JSON.stringify({ shards })}\n`);
} else {
  const rssBefore = process.memoryUsage().rss;
  const peakBefore = process.resourceUsage().maxRSS * 1024;
  const started = Date.now();
  const model = await loadModel(dir, { quantize: { type: "nf4", doubleQuant: true } });
  const seconds = (Date.now() - started) / 1000;
  const peakAfter = process.resourceUsage().maxRSS * 1024;
  const byCategory = new MemoryLedger({ model }).current();
  const modelBytes = Object.values(byCategory).reduce((a, b) => a + b, 0);
  process.stdout.write(`${JSON.stringify({ rssBefore, peakBefore, peakAfter, seconds, modelBytes, byCategory })}\n`);
  model.dispose();
}
