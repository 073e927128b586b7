// `qlora-lab plan`: estimates the memory of a LoRA / QLoRA fine-tune (lib/plan/planner.ts) and
// prints a table of components with their formulas plus the GPU sizes the run fits.
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { FileFormatError, InvalidArgumentError, expected } from "../lib/errors.js";
import { LLAMA_PRESETS } from "../lib/plan/llama_presets.js";
import { parseFlags } from "./flags.js";
import { fitsGpus, planMemory, type MemoryPlan, type PlanDtype, type PlanSetup } from "../lib/plan/planner.js";

const USAGE = `Usage: qlora-lab plan --model 7b|13b|33b|65b|70b|llama3-8b|CONFIG --method lora|qlora|full [options]

  --model M              preset (${Object.keys(LLAMA_PRESETS).join(", ")}, 70b) or a config.json / model folder
  --method M             lora (16-bit base), qlora (4-bit base) or full
  --r N                  LoRA rank (16)
  --targets LIST         all-linear (default) or module names, e.g. q_proj,v_proj
  --batch N              micro-batch size (1)
  --seq-len N            sequence length (512)
  --gradient-checkpointing
                         keep only each layer's input, recompute its activations in the backward
                         (the default on cuda; with --runtime tfjs, lib/train's gradientCheckpointing)
  --no-checkpointing     keep every layer's activations (the default with --runtime tfjs)
  --optimizer O          32bit (default), 8bit, paged-32bit or paged-8bit
  --base-dtype D         bf16 (default), fp16 or fp32 for unquantized weights
  --compute-dtype D      bf16 (default), fp16 or fp32
  --quant-type T         nf4 (default) or fp4
  --no-double-quant      QLoRA without double quantization
  --runtime R            cuda (default, adds a modelled context/allocator term) or tfjs: this
                         library's own training on TensorFlow.js (float32, the activations TF.js's
                         autodiff holds; what a MemoryLedger measures)
  --backend B            with --runtime tfjs: wasm (default), cpu or tensorflow (tfjs-node)
  --json                 print the plan as JSON
  --help                 this text

Sizes are GiB (2^30 bytes); GPU sizes are nominal GB, which vendors size in GiB.`;

/** Runs `qlora-lab plan`. */
export async function plan(argv: string[]): Promise<number> {
  const optimizers: Record<string, { bits: 32 | 8; paged: boolean }> = {
    "32bit": { bits: 32, paged: false },
    "8bit": { bits: 8, paged: false },
    "paged-32bit": { bits: 32, paged: true },
    "paged-8bit": { bits: 8, paged: true },
  };
  const { values } = parseFlags("qlora-lab plan", argv, {
    model: { type: "string" },
    method: { type: "string" },
    r: { type: "integer", min: 1 },
    targets: { type: "string" },
    batch: { type: "integer", min: 1 },
    "seq-len": { type: "integer", min: 1 },
    "gradient-checkpointing": { type: "boolean" },
    "no-checkpointing": { type: "boolean" },
    optimizer: { type: "string", choices: Object.keys(optimizers) },
    "base-dtype": { type: "string" },
    "compute-dtype": { type: "string" },
    "quant-type": { type: "string", choices: ["nf4", "fp4"] },
    "no-double-quant": { type: "boolean" },
    runtime: { type: "string" },
    backend: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.model) throw new InvalidArgumentError("qlora-lab plan", expected("--model", "nothing", "Try --model 7b --method qlora."));
  if (values["gradient-checkpointing"] && values["no-checkpointing"]) throw new InvalidArgumentError("qlora-lab plan", expected("one of --gradient-checkpointing and --no-checkpointing", "both"));
  if (!values.method) throw new InvalidArgumentError("qlora-lab plan", expected("--method lora|qlora|full", "nothing"));
  const setup: PlanSetup = {
    method: values.method as PlanSetup["method"],
    r: values.r,
    targetModules: values.targets === undefined || values.targets === "all-linear" ? undefined : values.targets.split(",").map((t) => t.trim()).filter(Boolean),
    batch: values.batch,
    seqLen: values["seq-len"],
    gradientCheckpointing: values["no-checkpointing"] ? false : values["gradient-checkpointing"] ? true : undefined,
    optimizer: values.optimizer ? optimizers[values.optimizer] : undefined,
    baseDtype: values["base-dtype"] as PlanDtype | undefined,
    computeDtype: values["compute-dtype"] as PlanDtype | undefined,
    quantType: values["quant-type"] as PlanSetup["quantType"],
    doubleQuant: values["no-double-quant"] ? false : undefined,
    runtime: values.runtime as PlanSetup["runtime"],
    backend: values.backend as PlanSetup["backend"],
  };
  const result = planMemory(readModel(values.model), setup);
  const fit = fitsGpus(result);
  if (values.json) console.log(JSON.stringify({ ...result, fits: fit }, null, 2));
  else console.log(formatPlan(result));
  return 0;
}

function readModel(model: string): string | Record<string, unknown> {
  if (!model.includes("/") && !model.endsWith(".json") && !existsSync(model)) return model;
  const path = existsSync(model) && statSync(model).isDirectory() ? join(model, "config.json") : model;
  if (!existsSync(path)) throw new FileFormatError("qlora-lab plan", expected("a config.json file or a folder holding one", path));
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (error) {
    throw new FileFormatError("qlora-lab plan", expected(`valid JSON in ${path}`, (error as Error).message));
  }
  // Name the plan after the model's folder unless the config names itself (its model_type is only "llama").
  return { _name_or_path: basename(dirname(path)) || basename(path), ...config };
}

/** The plan as a text table plus the GPUs it fits (GiB; MiB for plans under 1 GiB, such as the models trained here). */
export function formatPlan(p: MemoryPlan): string {
  const [unit, scale] = p.totalBytes >= 2 ** 30 ? ["GiB", 2 ** 30] : ["MiB", 2 ** 20];
  const size = (b: number) => (b / scale).toFixed(2);
  const s = p.setup;
  const tfjs = s.runtime === "tfjs";
  const opt = `${s.optimizer.paged ? "paged " : ""}AdamW ${s.optimizer.bits}-bit`;
  const base = s.method === "qlora" ? `${s.quantType}${s.doubleQuant ? "+DQ" : ""}` : s.baseDtype;
  const where = tfjs ? `, TF.js ${s.backend}` : "";
  const head = `${p.model} ${s.method}: base ${base}, r=${s.r} on ${s.targetModules === "all-linear" ? "all linear layers" : s.targetModules.join(",")}, batch ${s.batch}, seq ${s.seqLen}, ${s.gradientCheckpointing ? "gradient checkpointing" : "no checkpointing"}, ${opt}, compute ${s.computeDtype}${where}`;
  const width = Math.max(...p.components.map((c) => c.name.length), 9);
  const rows = p.components.map((c) => `  ${c.name.padEnd(width)}  ${size(c.bytes).padStart(8)}  ${c.formula}`);
  const fit = fitsGpus(p);
  const fits = fit.gpus.map((g) => `${g.gb} GB ${g.fits ? "yes" : "no"}`).join(", ");
  const need = fit.gpus.some((g) => g.fits) ? "" : `\nNeeds ${fit.largestGpusNeeded} x ${Math.max(...fit.gpus.map((g) => g.gb))} GB GPUs (sharded).`;
  const params = p.parameters.total >= 1e8 ? `${(p.parameters.total / 1e9).toFixed(2)} B` : `${(p.parameters.total / 1e6).toFixed(3)} M`;
  const trainable = p.parameters.trainable >= 1e5 ? `${(p.parameters.trainable / 1e6).toFixed(1)} M` : `${(p.parameters.trainable / 1e3).toFixed(1)} K`;
  return [
    head,
    `parameters ${params}, trainable ${trainable}`,
    "",
    `  ${"component".padEnd(width)}  ${unit.padStart(8)}  formula`,
    ...rows,
    `  ${"total".padEnd(width)}  ${size(p.totalBytes).padStart(8)}${p.requiredBytes !== p.totalBytes ? `  (${tfjs ? "in backend tensors" : "on the GPU"}: ${size(p.requiredBytes)}; paged state can move to host)` : ""}`,
    "",
    tfjs ? "Peak of one training step as tf.memory() counts it (what a MemoryLedger measures); no runtime overhead term." : `Fits: ${fits}${need}`,
  ].join("\n");
}
