// A memory budget for a run: before the run allocates, the planner's estimate for it is checked against
// the budget; over it, the run is refused with the estimate by category and the nearest changes that
// would fit (QLoRA, a 16-bit base, paged or 8-bit optimizer state, a smaller batch, shorter sequences).
// On the WebAssembly backend the tensors the heap holds have a hard limit of their own, 4 GiB,
// whatever the budget: the part of the estimate that lives there is checked against it too.
import { MemoryLimitError, expected } from "../errors.js";
import { formatBytes } from "../format.js";
import { budgetBytes } from "../memory/byte_size.js";
import type { MemoryCategory } from "../memory/types.js";
import { WASM_HEAP_LIMIT_BYTES } from "../ops/wasm_heap_limit.js";
import { planGeneration, type GenerationPlan, type GenerationSetup } from "./generation_plan.js";
import { planMemory, type MemoryPlan, type PlanCategory, type PlanComponent, type PlanModel, type PlanSetup } from "./planner.js";

/** What a budget check needs from a plan: its components and the bytes that must be resident. */
export interface BudgetedPlan {
  components: PlanComponent[];
  requiredBytes: number;
}

/**
 * A change to a run's setup, and how to say it ("paged optimizer state"). Changes of one `group`
 * ("base", "batch") are alternatives, listed from the smallest step to the largest.
 */
export interface BudgetChange<S> {
  label: string;
  group: string;
  /** The setup with this change alone. */
  setup: S;
  /** This change applied on top of `other` (another group's changes); default: `other` with this change's fields. */
  onto?(other: S): S;
}

/** A change that fits, with what it would need. */
export interface FittingChange {
  label: string;
  requiredBytes: number;
}

/** The refusal: the estimate, the budget, and what would fit. */
export class OverBudgetError extends MemoryLimitError {
  override name = "OverBudgetError";
  constructor(
    where: string,
    message: string,
    readonly plan: BudgetedPlan,
    readonly budgetBytes: number,
    readonly fits: FittingChange[],
  ) {
    super(where, message);
  }
}

/** Bytes the wasm heap never holds: 4-bit codes and scales, 16-bit weights (host arrays) and paged-out optimizer state. */
const OUTSIDE_THE_HEAP: ReadonlySet<PlanCategory> = new Set<MemoryCategory>(["base_packed", "quant_constants", "base_16bit", "optimizer_paged_out"]);

/** The part of a TF.js plan that lives in backend tensors (on wasm: in its heap). */
export function backendBytes(plan: BudgetedPlan): number {
  return plan.components.filter((c) => !OUTSIDE_THE_HEAP.has(c.category) && !c.pageable).reduce((s, c) => s + c.bytes, 0);
}

/** Options of {@link enforceBudget}. */
export interface BudgetCheck<S> {
  /** Names the run in the refusal ("train", "qlora-lab compare"). */
  where: string;
  /** Bytes, or a size such as "8GiB". */
  budget: number | string;
  /** What runs, for the message ("tinyllama-1.1b, LoRA, batch 8 x 128 tokens"). */
  run: string;
  /** The planner's estimate for a setup. */
  plan(setup: S): BudgetedPlan;
  setup: S;
  /** Changes to try, nearest first; each is tried alone, then all of them together. */
  changes: BudgetChange<S>[];
  /** The run's tensors go to the WebAssembly heap (4 GiB at most). */
  wasmHeap?: boolean;
}

/** Returns the plan of `check.setup` when it fits; otherwise throws an {@link OverBudgetError} before anything is allocated. */
export function enforceBudget<S>(check: BudgetCheck<S>): BudgetedPlan {
  const budget = budgetBytes(check.budget, check.where);
  const plan = check.plan(check.setup);
  const fitsIn = (p: BudgetedPlan) => p.requiredBytes <= budget && (!check.wasmHeap || backendBytes(p) <= WASM_HEAP_LIMIT_BYTES);
  if (fitsIn(plan)) return plan;

  const tried = check.changes.map((change) => ({ label: change.label, plan: tryPlan(check.plan, change.setup) }));
  let fits: FittingChange[] = tried.filter((t) => t.plan && fitsIn(t.plan)).map((t) => ({ label: t.label, requiredBytes: t.plan!.requiredBytes }));
  if (fits.length === 0) fits = combine(check, fitsIn);
  const heap = backendBytes(plan);
  const overHeap = check.wasmHeap && heap > WASM_HEAP_LIMIT_BYTES;
  const overBudget = plan.requiredBytes > budget;
  const what = overBudget ? `a run that fits the budget of ${formatBytes(budget)}` : `a run whose backend tensors fit the WebAssembly heap's ${formatBytes(WASM_HEAP_LIMIT_BYTES)} limit`;
  const got = `${check.run} planned at ${formatBytes(plan.requiredBytes)} (${breakdown(plan)})${overHeap ? `, ${formatBytes(heap)} of it in the WebAssembly heap, which stops at ${formatBytes(WASM_HEAP_LIMIT_BYTES)}` : ""}`;
  const hint = fits.length
    ? `Would fit: ${fits.slice(0, 3).map((f) => `${f.label} (${formatBytes(f.requiredBytes)})`).join("; ")}. Nothing was allocated.`
    : `No change tried fits (${check.changes.map((c) => c.label).join(", ") || "none"}); a smaller model would. Nothing was allocated.`;
  throw new OverBudgetError(check.where, expected(what, got, hint), plan, budget, fits);
}

/**
 * No single change is enough: group by group, in order, the first change of the group that makes the
 * run fit on top of the groups before ends the search; otherwise the group's largest step is kept.
 */
function combine<S>(check: BudgetCheck<S>, fitsIn: (p: BudgetedPlan) => boolean): FittingChange[] {
  const groups = [...new Set(check.changes.map((c) => c.group))];
  if (groups.length < 2) return [];
  const apply = (changes: BudgetChange<S>[]) => changes.reduce((setup, c) => (c.onto ? c.onto(setup) : ({ ...setup, ...c.setup } as S)), check.setup);
  const chosen: BudgetChange<S>[] = [];
  for (const group of groups) {
    let kept: { change: BudgetChange<S>; bytes: number } | undefined;
    for (const change of check.changes.filter((c) => c.group === group)) {
      const p = tryPlan(check.plan, apply([...chosen, change]));
      if (!p) continue;
      if (fitsIn(p)) return [prune(check, fitsIn, apply, [...chosen, change])];
      if (!kept || p.requiredBytes < kept.bytes) kept = { change, bytes: p.requiredBytes };
    }
    if (kept) chosen.push(kept.change);
  }
  return [];
}

/** Drops each change of a fitting combination that the others do not need. */
function prune<S>(check: BudgetCheck<S>, fitsIn: (p: BudgetedPlan) => boolean, apply: (c: BudgetChange<S>[]) => S, changes: BudgetChange<S>[]): FittingChange {
  let kept = changes;
  for (const change of changes.slice(0, -1)) {
    const without = kept.filter((c) => c !== change);
    const p = tryPlan(check.plan, apply(without));
    if (p && fitsIn(p)) kept = without;
  }
  return { label: kept.map((c) => c.label).join(" + "), requiredBytes: check.plan(apply(kept)).requiredBytes };
}

/** The changes {@link checkTrainingBudget} tries for a training setup, nearest first. */
export function trainingChanges(setup: PlanSetup): BudgetChange<PlanSetup>[] {
  const out: BudgetChange<PlanSetup>[] = [];
  const tfjs = setup.runtime === "tfjs";
  const change = (label: string, group: string, fields: Partial<PlanSetup>): BudgetChange<PlanSetup> => ({ label, group, setup: { ...setup, ...fields }, onto: (other) => ({ ...other, ...fields }) });
  const optimizer = (label: string, fields: { paged?: boolean; bits?: 32 | 8 }): BudgetChange<PlanSetup> => ({ label, group: "optimizer", setup: { ...setup, optimizer: { ...setup.optimizer, ...fields } }, onto: (other) => ({ ...other, optimizer: { ...other.optimizer, ...fields } }) });
  if (setup.method === "lora" && (setup.baseDtype ?? (tfjs ? "fp32" : "bf16")) === "fp32") out.push(change("a bf16 base (toLora16Model)", "base", { baseDtype: "bf16" }));
  if (setup.method === "lora") out.push(change("use qlora (an NF4 base)", "base", { method: "qlora", ...(tfjs ? { baseDtype: "fp32" } : {}) }));
  if (!setup.optimizer?.paged) out.push(optimizer("paged optimizer state", { paged: true }));
  if ((setup.optimizer?.bits ?? 32) === 32) out.push(optimizer("8-bit optimizer state", { bits: 8 }));
  if (!setup.optimizer?.paged && (setup.optimizer?.bits ?? 32) === 32) out.push(optimizer("paged 8-bit optimizer state", { paged: true, bits: 8 }));
  if (setup.gradientCheckpointing !== true && !(setup.gradientCheckpointing === undefined && !tfjs)) out.push(change("gradient checkpointing", "checkpointing", { gradientCheckpointing: true })); // a CUDA plan has it on by default
  for (let batch = Math.floor((setup.batch ?? 1) / 2); batch >= 1; batch = Math.floor(batch / 2)) out.push(change(`batch ${batch}`, "batch", { batch }));
  for (let seqLen = Math.floor((setup.seqLen ?? 512) / 2); seqLen >= 16; seqLen = Math.floor(seqLen / 2)) out.push(change(`sequences of ${seqLen} tokens`, "seqLen", { seqLen }));
  return out;
}

/** Refuses a fine-tune of `model` with `setup` whose plan is over `budget` (or, on wasm, over the heap's 4 GiB); returns the plan. */
export function checkTrainingBudget(where: string, budget: number | string, model: PlanModel, setup: PlanSetup): MemoryPlan {
  const plan = (s: PlanSetup) => planMemory(model, s);
  const first = plan(setup); // a bad setup is refused as the planner refuses it, not as over budget
  const tfjsWasm = first.setup.runtime === "tfjs" && first.setup.backend === "wasm";
  const s = first.setup;
  const run = `${first.model}, ${s.method === "lora" ? `LoRA (base in ${s.baseDtype})` : s.method === "qlora" ? `QLoRA (base in ${s.quantType})` : "full fine-tuning"}, batch ${s.batch} x ${s.seqLen} tokens, AdamW ${s.optimizer.bits}-bit${s.optimizer.paged ? " paged" : ""}`;
  enforceBudget({ where, budget, run, plan, setup, changes: trainingChanges(setup), wasmHeap: tfjsWasm });
  return first;
}

/** The changes {@link checkGenerationBudget} tries, nearest first: a smaller base storage, then fewer tokens. */
export function generationChanges(setup: GenerationSetup): BudgetChange<GenerationSetup>[] {
  const out: BudgetChange<GenerationSetup>[] = [];
  const storage = setup.storage ?? "f32";
  if (storage === "f32") out.push({ label: "a bf16 base (dtype bf16)", group: "base", setup: { ...setup, storage: "bf16" }, onto: (o) => ({ ...o, storage: "bf16" }) });
  if (storage !== "nf4" && storage !== "fp4") out.push({ label: "an NF4 base (quantize nf4)", group: "base", setup: { ...setup, storage: "nf4" }, onto: (o) => ({ ...o, storage: "nf4" }) });
  for (let tokens = Math.floor(setup.tokens / 2); tokens >= 16; tokens = Math.floor(tokens / 2)) {
    const fewer = (o: GenerationSetup): GenerationSetup => ({ ...o, tokens, promptTokens: Math.min(o.promptTokens ?? o.tokens, tokens) });
    out.push({ label: `${tokens} tokens in all`, group: "tokens", setup: fewer(setup), onto: fewer });
  }
  return out;
}

/** Refuses generating with `model` as `setup` says when its plan is over `budget` (or over the wasm heap's 4 GiB on `backend` "wasm"); returns the plan. */
export function checkGenerationBudget(where: string, budget: number | string, model: PlanModel, setup: GenerationSetup, backend: string): GenerationPlan {
  const first = planGeneration(model, setup);
  const s = first.setup;
  const run = `${first.model}, generating ${s.tokens} tokens${s.batch > 1 ? ` x ${s.batch}` : ""} (base in ${s.storage})`;
  enforceBudget({ where, budget, run, plan: (x: GenerationSetup) => planGeneration(model, x), setup, changes: generationChanges(setup), wasmHeap: backend === "wasm" });
  return first;
}

/** "base_dense 1.2 GiB, activations 3.4 GiB, ...": the plan's bytes by category, largest first. */
function breakdown(plan: BudgetedPlan): string {
  const by = new Map<string, number>();
  for (const c of plan.components) {
    const key = c.pageable ? `${c.category} (pageable)` : c.category;
    by.set(key, (by.get(key) ?? 0) + c.bytes);
  }
  return [...by].filter(([, b]) => b > 0).sort((a, b) => b[1] - a[1]).map(([c, b]) => `${c} ${formatBytes(b)}`).join(", ");
}

function tryPlan<S>(plan: (s: S) => BudgetedPlan, setup: S): BudgetedPlan | null {
  try {
    return plan(setup);
  } catch {
    return null; // a change this planner cannot model (e.g. checkpointing on TF.js) is not offered
  }
}
