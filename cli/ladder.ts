// `qlora-lab ladder`: the article's table measured on this machine, rung by rung (lib/ladder), with a
// progress line while it runs, then the table: measured rows per size and method, and the planner's
// 7B and 70B rows beside them.
import { resolveBackend, formatBackendReport } from "../lib/backend.js";
import { readFileSync } from "node:fs";
import { FileFormatError, InvalidArgumentError, expected } from "../lib/errors.js";
import { formatBytes } from "../lib/format.js";
import { writeFileAtomic } from "../lib/io/atomic_write.js";
import { DEFAULT_LADDER_SIZES, LADDER_METHODS, runLadder, type LadderMethod, type LadderResult } from "../lib/ladder/ladder.js";
import { ladderRows } from "../lib/ladder/rows.js";
import { ladderMemoryChart, ladderSpeedChart } from "../lib/ladder/charts.js";
import { parseFlags } from "./flags.js";
import { requireWritableFilePath } from "./output_path.js";

const USAGE = `Usage: qlora-lab ladder [--sizes A,B,...] [--methods lora16,qlora] [--steps N] [--budget SIZE] [--json FILE]

Measures LoRA and QLoRA at growing model sizes on this machine: for each size and method, a few
training steps on random-token rows and a short generation, in a process of its own. It reports the
memory ledger's peak by category, the process's peak RSS, the planner's prediction and its error,
step time and generation speed (median and spread), and which memory tiers each run fits. Models of
published shapes have random weights: they measure memory and speed, not quality.

Options:
  --sizes LIST       shipped and preset names (default ${DEFAULT_LADDER_SIZES.join(",")};
                     also llama-2-7b, llama-3.1-8b, llama-3.2-1b, llama-3.2-3b, ...)
  --methods LIST     lora16 (bfloat16 base), qlora (NF4 + double quant), lora32 (float32 base)
                     (default lora16,qlora)
  --steps N          timed training steps per rung, after one warm-up (default 3)
  --batch N          sequences per step (default 1)
  --seq-len N        tokens per sequence (default 128)
  --r N              LoRA rank on the seven block projections (default 16)
  --tokens N         new tokens per timed generation (default 16)
  --repeats N        timed generations per variant (default 3)
  --gradient-checkpointing   recompute each decoder block in the backward
  --budget SIZE      refuse (before it starts) a rung whose planned peak is over SIZE, e.g. 8GiB
  --seed N           seed of the weights and rows (default 0)
  --json FILE        also write the full result as JSON ("-" prints it instead of the table)
  --memory-chart FILE   draw memory against parameters (.png, .svg, or .json for the Vega-Lite spec)
  --speed-chart FILE    draw training and generation tokens/s against parameters (same formats)
  --from FILE        run nothing: print the table (and draw the charts) of a saved --json result
  -h, --help         this text`;

const list = (raw: string | undefined) => raw?.split(",").map((s) => s.trim()).filter((s) => s !== "");

/** Runs `qlora-lab ladder`. */
export async function ladder(argv: string[]): Promise<number> {
  const where = "qlora-lab ladder";
  const { values } = parseFlags(where, argv, {
    sizes: { type: "string" },
    methods: { type: "string" },
    steps: { type: "integer", min: 1 },
    batch: { type: "integer", min: 1 },
    "seq-len": { type: "integer", min: 1 },
    r: { type: "integer", min: 1 },
    tokens: { type: "integer", min: 1 },
    repeats: { type: "integer", min: 1 },
    "gradient-checkpointing": { type: "boolean" },
    budget: { type: "string" },
    seed: { type: "integer", min: 0 },
    json: { type: "string" },
    "memory-chart": { type: "string" },
    "speed-chart": { type: "string" },
    from: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const methods = list(values.methods) as LadderMethod[] | undefined;
  for (const m of methods ?? []) if (!LADDER_METHODS.includes(m)) throw new InvalidArgumentError(where, expected(`--methods among ${LADDER_METHODS.join(", ")}`, JSON.stringify(m)));
  if (values.json !== undefined && values.json !== "-") requireWritableFilePath(where, "--json", values.json);
  for (const flag of ["memory-chart", "speed-chart"] as const) {
    const path = values[flag];
    if (path === undefined) continue;
    requireWritableFilePath(where, `--${flag}`, path);
    if (!/\.(png|svg|json)$/i.test(path)) throw new InvalidArgumentError(where, expected(`--${flag} a path ending in .png, .svg or .json`, path));
  }
  if (values.from !== undefined) {
    const result = readLadderJson(where, values.from);
    drawCharts(result, values["memory-chart"], values["speed-chart"]);
    console.log(formatLadder(result));
    return 0;
  }
  const backend = await resolveBackend();
  const live = process.stderr.isTTY;
  const result = await runLadder({
    sizes: list(values.sizes),
    methods,
    steps: values.steps,
    batch: values.batch,
    seqLen: values["seq-len"],
    r: values.r,
    generateTokens: values.tokens,
    generateRepeats: values.repeats,
    gradientCheckpointing: values["gradient-checkpointing"] ?? false,
    budget: values.budget,
    seed: values.seed,
    onProgress: (e) => {
      const line = `[${e.index + 1}/${e.total}] ${e.model} ${e.method}: ${e.rung ? summary(e.rung) : e.phase}`;
      if (live) process.stderr.write(`\r\x1b[2K${line}${e.rung ? "\n" : ""}`);
      else if (e.rung || e.phase === "starting") process.stderr.write(`${line}\n`);
    },
  });
  const json = `${JSON.stringify(result, null, 2)}\n`;
  if (values.json === "-") {
    process.stdout.write(json);
    return 0;
  }
  if (values.json !== undefined) writeFileAtomic(values.json, json);
  drawCharts(result, values["memory-chart"], values["speed-chart"]);
  console.log(`TF.js ${formatBackendReport(backend)}`);
  console.log(formatLadder(result));
  return 0;
}

/** A saved `--json` result, or a one-line error saying what the file held instead. */
function readLadderJson(where: string, path: string): LadderResult {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new InvalidArgumentError(where, expected("--from a ladder JSON file written by --json", `${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`));
  }
  let result: LadderResult;
  try {
    result = JSON.parse(text) as LadderResult;
  } catch (error) {
    throw new FileFormatError(path, expected("JSON written by qlora-lab ladder --json", `invalid JSON (${(error as Error).message})`));
  }
  if (!Array.isArray(result?.rungs) || !Array.isArray(result?.planned)) throw new FileFormatError(path, expected("a ladder result with rungs and planned", "JSON without them"));
  return result;
}

/** Writes the charts that were asked for. */
function drawCharts(result: LadderResult, memoryChart: string | undefined, speedChart: string | undefined): void {
  if (memoryChart !== undefined) ladderMemoryChart(result).save(memoryChart);
  if (speedChart !== undefined) ladderSpeedChart(result).save(speedChart);
}

const signed = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)}`;

/** One rung in a few words, for the progress line. */
function summary(r: LadderResult["rungs"][number]): string {
  if (r.status !== "ok") return `${r.status}: ${r.reason}`;
  return `peak ${formatBytes(r.peakBytes!)} (planned ${signed(r.plannedErrorPercent!)} %), RSS ${formatBytes(r.peakRssBytes!)}, step ${r.stepSeconds!.median.toFixed(2)} s`;
}

/** The ladder as a text table: measured rungs, then the planner's 7B and 70B rows. */
export function formatLadder(result: LadderResult): string {
  const records = ladderRows(result);
  const rows = [Object.keys(records[0]!), ...records.map((r) => Object.values(r))];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const lines = rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd());
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  const refused = result.rungs.filter((r) => r.status !== "ok").map((r) => `  ${r.model} ${r.method} ${r.status}: ${r.reason}`);
  return [
    ...lines,
    "",
    "* random weights of the published shape: memory and speed only, not quality.",
    "Peak RSS is the rung's whole process (Node, the WebAssembly heap as it grew, the model and the run); the ledger counts tensors and host arrays.",
    ...(refused.length ? ["", ...refused] : []),
    `${result.rungs.length} rungs in ${result.seconds.toFixed(0)} s on ${result.machine.cores} cores (${result.machine.cpu}); products on ${result.machine.products}, ${result.machine.threads} thread(s).`,
  ].join("\n");
}
