// Training checkpoints: the trainable tensors (the adapter, for a LoRA model), the optimizer state,
// and the loop's position (step, data order, records), written atomically: each step's folder is
// written as a unit (lib/io/atomic_folder.ts), then latest.json is replaced.
import * as tf from "@tensorflow/tfjs-core";
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { FileFormatError, InvalidArgumentError, expected } from "../errors.js";
import { recoverFolder, writeFolderAtomic, type FileContents } from "../io/atomic_folder.js";
import { writeFileAtomic } from "../io/atomic_write.js";
import { SafetensorsFile, encodeSafetensors, type SafetensorsTensor } from "../io/safetensors.js";
import type { NamedVariable, Optimizer, OptimizerState } from "../optim/optimizer.js";
import type { SamplerState } from "./batching.js";
import type { EvalRecord, StepRecord } from "./records.js";

/** The loop's position and history, stored as trainer_state.json. */
export interface TrainerState {
  format: "qlora-lab-checkpoint";
  version: 1;
  run: string;
  /** Optimizer steps completed. */
  step: number;
  seed: number;
  sampler: SamplerState;
  /** Total steps the run was configured for (schedules depend on it). */
  totalSteps: number;
  optimizer: { kind: string; stepCount: number };
  steps: StepRecord[];
  evals: EvalRecord[];
}

const SLOT_SEPARATOR = "::";

/** Writes step-NNNNNN/ under `dir` atomically, updates latest.json, keeps the newest `keep`. */
export async function saveCheckpoint(dir: string, params: readonly NamedVariable[], optimizer: Optimizer, state: TrainerState, keep = 2): Promise<string> {
  const name = `step-${String(state.step).padStart(6, "0")}`;
  const final = join(dir, name);
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const p of params) tensors[p.name] = { dtype: "F32", shape: [...p.variable.shape], data: new Float32Array(await p.variable.data()) };
  const saved = optimizer.saveState();
  const slots: Record<string, SafetensorsTensor> = {};
  for (const [param, bySlot] of Object.entries(saved.slots)) {
    for (const [slot, values] of Object.entries(bySlot)) {
      slots[`${param}${SLOT_SEPARATOR}${slot}`] = values instanceof Float32Array ? { dtype: "F32", shape: [values.length], data: values } : { dtype: "U8", shape: [values.length], data: values };
    }
  }
  // A kill at any moment leaves this step's folder old or new, never part of each (and latest.json names only complete folders).
  writeFolderAtomic(
    final,
    new Map<string, FileContents>([
      ["trainable.safetensors", encodeSafetensors(tensors, { format: "pt" })],
      ["optimizer.safetensors", encodeSafetensors(slots, { kind: saved.kind, stepCount: String(saved.stepCount) })],
      ["trainer_state.json", JSON.stringify({ ...state, optimizer: { kind: saved.kind, stepCount: saved.stepCount } }, null, 1) + "\n"],
    ]),
    "saveCheckpoint",
  );
  writeFileAtomic(join(dir, "latest.json"), JSON.stringify({ checkpoint: name, step: state.step }) + "\n");
  const older = readdirSync(dir).filter((n) => /^step-\d+$/.test(n)).sort();
  for (const old of older.slice(0, Math.max(0, older.length - keep))) rmSync(join(dir, old), { recursive: true, force: true });
  return final;
}

/** The checkpoint folder `path` names: itself, or the one latest.json points to. */
export function resolveCheckpoint(path: string): string {
  const where = "resolveCheckpoint";
  path = recoverFolder(path);
  if (!existsSync(path) || !statSync(path).isDirectory()) throw new FileFormatError(where, expected("a checkpoint folder", `nothing at ${path}`));
  if (existsSync(join(path, "trainer_state.json"))) return path;
  const latest = join(path, "latest.json");
  if (!existsSync(latest)) throw new FileFormatError(where, expected(`trainer_state.json or latest.json in ${path}`, readdirSync(path).join(", ") || "an empty folder"));
  const { checkpoint } = JSON.parse(readFileSync(latest, "utf8")) as { checkpoint: string };
  return resolveCheckpoint(join(path, checkpoint));
}

/** Reads trainer_state.json of a checkpoint. */
export function readTrainerState(checkpointDir: string): TrainerState {
  const file = join(checkpointDir, "trainer_state.json");
  let state: TrainerState;
  try {
    state = JSON.parse(readFileSync(file, "utf8")) as TrainerState;
  } catch (error) {
    throw new FileFormatError("loadCheckpoint", expected(`JSON in ${file}`, (error as Error).message));
  }
  if (state.format !== "qlora-lab-checkpoint") throw new FileFormatError("loadCheckpoint", expected(`a qlora-lab checkpoint in ${file}`, String(state.format)));
  return state;
}

/** Restores trainable tensors and optimizer state from a checkpoint; returns its trainer state. */
export function loadCheckpoint(checkpointDir: string, params: readonly NamedVariable[], optimizer: Optimizer): TrainerState {
  const where = "loadCheckpoint";
  const state = readTrainerState(checkpointDir);
  const tensors = SafetensorsFile.open(join(checkpointDir, "trainable.safetensors"));
  const names = new Set(tensors.names());
  for (const p of params) {
    if (!names.has(p.name)) throw new FileFormatError(where, expected(`a tensor "${p.name}" in ${checkpointDir}/trainable.safetensors`, `none (it has ${[...names].slice(0, 4).join(", ")}...)`, "Resume with the same model and adapter configuration."));
    const entry = tensors.entry(p.name);
    if (entry.shape.join(",") !== p.variable.shape.join(",")) {
      throw new InvalidArgumentError(where, expected(`"${p.name}" of shape [${p.variable.shape.join(", ")}]`, `[${entry.shape.join(", ")}]`));
    }
    const values = tensors.readFloat32(p.name);
    tf.tidy(() => p.variable.assign(tf.tensor(values, p.variable.shape, "float32")));
  }
  const file = SafetensorsFile.open(join(checkpointDir, "optimizer.safetensors"));
  const slots: OptimizerState["slots"] = {};
  for (const key of file.names()) {
    const cut = key.lastIndexOf(SLOT_SEPARATOR);
    const param = key.slice(0, cut);
    const slot = key.slice(cut + SLOT_SEPARATOR.length);
    const entry = file.entry(key);
    const bytes = file.readBytes(key);
    (slots[param] ??= {})[slot] = entry.dtype === "F32" ? new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) : new Uint8Array(bytes);
  }
  optimizer.loadState({ kind: state.optimizer.kind, stepCount: state.optimizer.stepCount, slots });
  return state;
}
