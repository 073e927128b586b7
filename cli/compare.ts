// `qlora-lab compare`: fine-tunes the shipped base (or --model) on a task as LoRA (bfloat16 base by default)
// and as QLoRA (NF4 + double quant base) with the same seed, and prints what each cost and achieved.
import { resolveBackend, formatBackendReport } from "../lib/backend.js";
import { shippedTaskNames } from "../lib/data/index.js";
import { compareLoraQlora, CONVERGED_PERCENT, type CompareReport } from "../lib/train/index.js";
import { formatBytes } from "../lib/format.js";
import { MEMORY_CATEGORIES } from "../lib/memory/types.js";
import { parseByteSize } from "../lib/memory/byte_size.js";
import type { ScheduleKind } from "../lib/optim/schedule.js";
import { parseFlags } from "./flags.js";
import { requireWritableFolderPath } from "./output_path.js";

const USAGE = `Usage: qlora-lab compare [--task NAME] [--steps N] [--seed N] [--budget SIZE] [--json]

Fine-tunes the same base model on the same task with the same seed twice, as LoRA (bfloat16 base)
and as QLoRA (NF4 + double quantization base), and reports memory, bits per base parameter,
eval loss and task metric before/after, and training and inference speed.

Options:
  --task NAME        shipped task (qa, ...) or a folder with train.jsonl/eval.jsonl (default home)
  --steps N          optimizer steps per run (default 600)
  --seed N           seed of LoRA init and data order (default 0)
  --lr X             peak learning rate (default 5e-3)
  --schedule KIND    constant, linear or cosine after the warmup (default constant)
  --warmup RATIO     warmup as a fraction of the steps (default 0.1)
  --batch-size N     sequences per step (default 16)
  --model PATH       base model folder (default: the shipped base model)
  --tokenizer PATH   tokenizer (default: the one beside the model)
  --adapters DIR     also save both adapters under DIR/lora and DIR/qlora
  --budget SIZE      memory each run may use ("8GiB", "512MiB", "8GB"): a run whose planned
                     memory is over it is refused before the model loads, with what would fit
  --lora-base D      the LoRA run's frozen base: bf16 (default, the 16-bit LoRA baseline), f16,
                     or f32 (float32)
  --gradient-checkpointing
                     recompute each decoder block's activations in the backward (less memory,
                     one more forward per step)
  --json             print the full report as JSON (records included)
  -h, --help         this text`;

/** Runs `qlora-lab compare`. */
export async function compare(argv: string[]): Promise<number> {
  const { values } = parseFlags("qlora-lab compare", argv, {
    task: { type: "string" },
    steps: { type: "integer", min: 0 },
    seed: { type: "integer", min: 0 },
    lr: { type: "number", above: 0 },
    "batch-size": { type: "integer", min: 1 },
    schedule: { type: "string", choices: ["constant", "linear", "cosine"] },
    warmup: { type: "number", min: 0, max: 1 },
    model: { type: "string" },
    tokenizer: { type: "string" },
    adapters: { type: "string" },
    budget: { type: "string" },
    "lora-base": { type: "string", choices: ["bf16", "f16", "f32"] },
    "gradient-checkpointing": { type: "boolean" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE.replace("qa, ...", shippedTaskNames().join(", ")));
    return 0;
  }
  // Checked now: the adapters are saved after both runs, minutes of training later.
  if (values.adapters !== undefined) requireWritableFolderPath("qlora-lab compare", "--adapters", values.adapters);
  const budget = values.budget === undefined ? undefined : parseByteSize(values.budget, "qlora-lab compare --budget");
  const backend = await resolveBackend();
  const log = values.json ? (line: string) => console.error(line) : (line: string) => console.log(line);
  log(`backend: ${formatBackendReport(backend)}`);
  const controller = new AbortController();
  const onSigint = () => controller.abort(); // train() stops the current run; this skips the next one
  process.once("SIGINT", onSigint);
  const report = await compareLoraQlora({
    task: values.task, steps: values.steps, seed: values.seed, lr: values.lr, schedule: values.schedule as ScheduleKind | undefined, warmupRatio: values.warmup, batchSize: values["batch-size"],
    model: values.model, tokenizer: values.tokenizer, adapterDir: values.adapters, budget, loraBase: values["lora-base"] as "bf16" | "f16" | "f32" | undefined, gradientCheckpointing: values["gradient-checkpointing"] ?? false, log, signal: controller.signal,
  });
  process.off("SIGINT", onSigint);
  if (values.json) console.log(JSON.stringify(report, null, 1));
  else console.log(`\n${formatCompareReport(report)}`);
  return report.runs.some((r) => r.stopped) ? 130 : 0;
}

/** The report as a plain-text table with a summary line. */
export function formatCompareReport(report: CompareReport): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  const signed = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(2)} %`;
  const rows: Array<[string, ...string[]]> = [
    ["", ...report.runs.map((r) => r.name)],
    ["base precision", ...report.runs.map((r) => r.basePrecision)],
    ["base weights (all)", ...report.runs.map((r) => `${formatBytes(r.baseBytes)} (${r.bitsPerBaseParameter.toFixed(2)} bits/param)`)],
    ["base projections", ...report.runs.map((r) => `${formatBytes(r.linearBaseBytes)} (${r.bitsPerLinearParameter.toFixed(2)} bits/param)`)],
    ["trainable (LoRA) params", ...report.runs.map((r) => String(r.trainableParameters))],
    ...MEMORY_CATEGORIES.filter((c) => report.runs.some((r) => r.peakMemory[c])).map((c): [string, ...string[]] => [`peak ${c}`, ...report.runs.map((r) => formatBytes(r.peakMemory[c] ?? 0))]),
    ["eval loss before -> after", ...report.runs.map((r) => `${r.evalLossBefore.toFixed(4)} -> ${r.evalLossAfter.toFixed(4)}`)],
    ["eval loss over the last interval", ...report.runs.map((r) => (r.evalLossLastChangePercent === undefined ? "-" : signed(r.evalLossLastChangePercent)))],
    [`${report.runs[0]?.metricName ?? "metric"} before -> after`, ...report.runs.map((r) => `${pct(r.metricBefore)} -> ${pct(r.metricAfter)}`)],
    ["training tokens/s", ...report.runs.map((r) => r.trainTokensPerSecond.toFixed(0))],
    ["inference tokens/s (separate)", ...report.runs.map((r) => r.inferenceTokensPerSecond.separate.toFixed(1))],
    ["inference tokens/s (merged)", ...report.runs.map((r) => `${r.inferenceTokensPerSecond.merged.toFixed(1)} (${r.mergeStrategy})`)],
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd());
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  const head = `task "${report.task}", ${report.steps} steps, seed ${report.seed}${report.gradientCheckpointing ? ", gradient checkpointing" : ""}`;
  const summary: string[] = [];
  if (report.qloraQualityPercent !== undefined) summary.push(`QLoRA quality: ${report.qloraQualityPercent.toFixed(1)} % of LoRA's ${report.runs[0]!.metricName}`);
  if (report.evalLossGapPercent !== undefined) summary.push(`QLoRA eval loss ${signed(report.evalLossGapPercent)} vs LoRA` + (report.evalLossGapBeforePercent !== undefined ? ` (before training: ${signed(report.evalLossGapBeforePercent)})` : ""));
  if (report.converged === false) {
    summary.push(`Not converged: an eval loss still moved by ${CONVERGED_PERCENT} % or more over its last interval, so the gap above reflects where each run is on its learning curve more than the base precision. Rerun with more --steps.`);
  }
  if (report.linearBaseBytesPercent !== undefined) summary.push(`QLoRA base projections take ${report.linearBaseBytesPercent.toFixed(1)} % of LoRA's bytes (whole base ${report.baseBytesPercent!.toFixed(1)} %)`);
  return [head, "", ...lines, "", ...summary].join("\n");
}
