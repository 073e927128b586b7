// The one place that picks the TensorFlow.js backend: tfjs-node-gpu, then tfjs-node, then wasm,
// then cpu, unless QLORA_LAB_BACKEND (wasm | cpu | tensorflow) forces one; it installs the runtime first,
// and picks the engine of the matrix products (ops/native_product.ts) for the backend it activated.
import * as tf from "@tensorflow/tfjs-core";
import { InvalidArgumentError, UnavailableError, expected } from "./errors.js";
import { configureProducts, type ProductEngineReport } from "./ops/native_product.js";
import { guardWasmHeap } from "./ops/wasm_heap_limit.js";
import { installRuntime, type RuntimeReport } from "./runtime.js";

/** Backends as users name them: `tensorflow` is libtensorflow through tfjs-node(-gpu). */
export type BackendChoice = "tensorflow" | "wasm" | "cpu";

/** One candidate the resolver considered and why it was or was not used. */
export interface BackendCandidate {
  /** npm package that provides the backend. */
  package: string;
  /** TF.js backend name it registers. */
  backend: string;
  /** "active", or why it was skipped. */
  outcome: "active" | "skipped";
  reason: string;
}

/** What the resolver did: the active backend and the fate of every candidate. */
export interface BackendReport {
  active: string;
  forcedBy?: string;
  candidates: BackendCandidate[];
  /** What installRuntime did on this call (nothing new after the first). */
  runtime: RuntimeReport;
  /** Which engine does the matrix products, on how many threads (QLORA_LAB_PRODUCTS, QLORA_LAB_THREADS). */
  products: ProductEngineReport;
}

/** Options for {@link resolveBackend}. */
export interface ResolveBackendOptions {
  /** Force a backend; defaults to the QLORA_LAB_BACKEND environment variable. */
  force?: BackendChoice;
  /** Environment to read QLORA_LAB_BACKEND, QLORA_LAB_PRODUCTS and QLORA_LAB_THREADS from (tests pass their own). */
  env?: Record<string, string | undefined>;
}

const CANDIDATES: ReadonlyArray<{ package: string; backend: string; choice: BackendChoice }> = [
  { package: "@tensorflow/tfjs-node-gpu", backend: "tensorflow", choice: "tensorflow" },
  { package: "@tensorflow/tfjs-node", backend: "tensorflow", choice: "tensorflow" },
  { package: "@tensorflow/tfjs-backend-wasm", backend: "wasm", choice: "wasm" },
  { package: "@tensorflow/tfjs-backend-cpu", backend: "cpu", choice: "cpu" },
];

const CHOICES: readonly BackendChoice[] = ["tensorflow", "wasm", "cpu"];

/** Reads and validates QLORA_LAB_BACKEND (or `force`); undefined means "pick the fastest". */
export function backendOverride(options: ResolveBackendOptions = {}): BackendChoice | undefined {
  const raw = options.force ?? (options.env ?? process.env).QLORA_LAB_BACKEND;
  if (raw === undefined || raw === "") return undefined;
  const choice = raw.trim().toLowerCase();
  if (!CHOICES.includes(choice as BackendChoice)) {
    throw new InvalidArgumentError("resolveBackend", expected(`QLORA_LAB_BACKEND to be one of ${CHOICES.join(", ")}`, JSON.stringify(raw)));
  }
  return choice as BackendChoice;
}

/**
 * Installs the runtime (installRuntime), activates the fastest TF.js backend that loads here and reports
 * why the others were skipped. Safe to call repeatedly: a backend that is already active is kept.
 */
export async function resolveBackend(options: ResolveBackendOptions = {}): Promise<BackendReport> {
  const forced = backendOverride(options);
  const runtime = installRuntime();
  const candidates: BackendCandidate[] = [];
  let active: string | undefined;
  for (const candidate of CANDIDATES) {
    const record = (outcome: BackendCandidate["outcome"], reason: string) =>
      candidates.push({ package: candidate.package, backend: candidate.backend, outcome, reason });
    if (active !== undefined) {
      record("skipped", `a faster backend (${active}) is active`);
      continue;
    }
    if (forced !== undefined && forced !== candidate.choice) {
      record("skipped", `QLORA_LAB_BACKEND=${forced}`);
      continue;
    }
    try {
      await import(candidate.package);
    } catch (error) {
      record("skipped", describeImportFailure(error));
      continue;
    }
    try {
      if (tf.getBackend() !== candidate.backend || tf.findBackend(candidate.backend) === null) {
        const ok = await tf.setBackend(candidate.backend);
        if (!ok) throw new Error("setBackend returned false");
      }
      await tf.ready();
      guardWasmHeap(); // a full wasm heap refuses an allocation clearly instead of overwriting memory
      active = candidate.backend;
      record("active", forced ? `forced by QLORA_LAB_BACKEND=${forced}` : "first candidate that loaded");
    } catch (error) {
      record("skipped", `failed to initialise: ${(error as Error).message}`);
    }
  }
  if (active === undefined) {
    const tried = candidates.map((c) => `${c.package}: ${c.reason}`).join("; ");
    throw new UnavailableError("resolveBackend", expected(forced ? `backend "${forced}" to load` : "one TF.js backend to load", tried, forced ? "Unset QLORA_LAB_BACKEND to let qlora-lab choose." : "Reinstall qlora-lab's dependencies."));
  }
  const products = configureProducts(options.env ?? process.env);
  return { active, forcedBy: forced ? `QLORA_LAB_BACKEND=${forced}` : undefined, candidates, runtime, products };
}

/**
 * One line a person can read: "wasm (tfjs-node: not installed; ...); products on onnxruntime-node 1.30.0,
 * 2 threads", and any WebAssembly kernel that did not compile.
 */
export function formatBackendReport(report: BackendReport): string {
  const skipped = report.candidates.filter((c) => c.outcome === "skipped").map((c) => `${c.package.replace("@tensorflow/", "")}: ${c.reason}`);
  const scalar = Object.entries(report.runtime.wasmKernels).filter(([, compiled]) => !compiled).map(([name]) => name);
  return `${report.active}${skipped.length ? ` (skipped ${skipped.join("; ")})` : ""}; ${formatProducts(report.products)}${scalar.length ? `; without WebAssembly SIMD, scalar code for: ${scalar.join(", ")}` : ""}`;
}

/** "products on onnxruntime-node 1.30.0, 2 threads" or "products on the backend's kernels (why)". */
function formatProducts(products: ProductEngineReport): string {
  if (products.engine === "tfjs") return `products on the backend's own kernels (${products.reason})`;
  return `products on ${products.engine}, ${products.threads} thread${products.threads === 1 ? "" : "s"}`;
}

function describeImportFailure(error: unknown): string {
  const code = (error as { code?: string }).code;
  if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") return "not installed";
  const message = (error as Error).message ?? String(error);
  return `failed to load: ${message.split("\n")[0]}`;
}
