// The memory ledger: what every byte the library holds is for, by category and by owner, across the
// phases of a training step, reconciled with tf.memory(). Reporters (layers, quantized tensors,
// adapters, optimizers) say what they own; gradients are counted from the tensors handed in; the
// transient bytes of a phase (activations, temporaries) are measured as its peak above its end level.
import * as tf from "@tensorflow/tfjs-core";
import { InvalidArgumentError, expected } from "../errors.js";
import { MEMORY_CATEGORIES, type MemoryCategory, type MemoryItem, type MemoryReporter } from "./types.js";

/** Bytes per category. */
export type CategoryBytes = Record<MemoryCategory, number>;

/** One point of the timeline (a plain record for charts). */
export interface LedgerPoint {
  /** Label of the phase, e.g. "start", "forward+backward", "optimizer". */
  phase: string;
  /** Optional training step this point belongs to. */
  step?: number;
  /** "end" for the state after the phase, "peak" for its highest point. */
  at: "end" | "peak";
  /** Bytes by category (backend and host together). */
  bytes: CategoryBytes;
  /** Sum of `bytes` over categories. */
  totalBytes: number;
  /** Of totalBytes, bytes in TF.js backend tensors. */
  backendBytes: number;
  /** tf.memory().numBytes at this point (the peak estimate for "peak" points). */
  measuredBackendBytes: number;
  /** measuredBackendBytes - backendBytes: tensors nobody reported (should be ~0). */
  unaccountedBytes: number;
}

/** Per-owner totals (a module path or parameter name). */
export interface OwnerBytes {
  owner: string;
  bytes: CategoryBytes;
  totalBytes: number;
}

/** Result of {@link MemoryLedger.reconcile}. */
export interface Reconciliation {
  backend: string;
  /** Bytes the ledger attributes to backend tensors. */
  ledgerBackendBytes: number;
  /** tf.memory().numBytes. */
  tfBytes: number;
  /** |ledger - tf| / tf. */
  relativeError: number;
  /** Bytes held outside the backend (host pages, spill files): part of the ledger, not of tf.memory(). */
  hostBytes: number;
  /** wasm only: the module heap, which also holds allocator slack and free blocks tf.memory() ignores. */
  wasmHeapBytes?: number;
}

/** Extra tensors a snapshot counts beyond the reporters. */
export interface SnapshotExtras {
  /** Gradients alive at this point, keyed by parameter name (their owner). */
  gradients?: Readonly<Record<string, tf.Tensor>>;
  /** Other tensors to count, by category (e.g. a data batch under "activations"). */
  tensors?: Partial<Record<MemoryCategory, readonly tf.Tensor[]>>;
  step?: number;
}

const emptyBytes = (): CategoryBytes => Object.fromEntries(MEMORY_CATEGORIES.map((c) => [c, 0])) as CategoryBytes;

/** Reports a fixed set of tensors under one category (for data batches, caches, anything unreported). */
export function tensorReporter(category: MemoryCategory, owner: string, tensors: () => readonly tf.Tensor[]): MemoryReporter {
  return { memoryItems: () => tensors().filter((t) => !t.isDisposed).map((t) => ({ category, bytes: bytesOfTensor(t), owner, onBackend: true, location: "backend" as const })) };
}

/** Bytes of one tensor as the backend counts them (4 per element for float32/int32, 1 for bool). */
export function bytesOfTensor(t: tf.Tensor): number {
  return t.size * (t.dtype === "bool" ? 1 : t.dtype === "complex64" ? 8 : 4);
}

/** Bytes of several tensors ({@link bytesOfTensor} each; missing ones count 0). */
export function bytesOfTensors(tensors: readonly (tf.Tensor | null | undefined)[]): number {
  return tensors.reduce((sum, t) => sum + (t ? bytesOfTensor(t) : 0), 0);
}

/** A caller-created ledger: add reporters, take snapshots around the phases of a step, read the timeline. */
export class MemoryLedger {
  private readonly reporters = new Map<string, MemoryReporter>();
  private readonly points: LedgerPoint[] = [];
  private lastItems: MemoryItem[] = [];

  constructor(reporters: Readonly<Record<string, MemoryReporter>> = {}) {
    for (const [label, r] of Object.entries(reporters)) this.track(label, r);
  }

  /** Adds (or replaces) a reporter under a label. */
  track(label: string, reporter: MemoryReporter): this {
    if (typeof reporter?.memoryItems !== "function") throw new InvalidArgumentError("MemoryLedger.track", expected(`a MemoryReporter for "${label}"`, reporter));
    this.reporters.set(label, reporter);
    return this;
  }

  /** Removes a reporter. */
  untrack(label: string): this {
    this.reporters.delete(label);
    return this;
  }

  /** Every item reporters and extras hold right now. */
  items(extras: SnapshotExtras = {}): MemoryItem[] {
    const items = [...this.reporters.values()].flatMap((r) => r.memoryItems());
    for (const [name, g] of Object.entries(extras.gradients ?? {})) items.push({ category: "gradients", bytes: bytesOfTensor(g), owner: name, onBackend: true, location: "backend" });
    for (const [category, tensors] of Object.entries(extras.tensors ?? {})) {
      for (const t of tensors ?? []) items.push({ category: category as MemoryCategory, bytes: bytesOfTensor(t), onBackend: true, location: "backend" });
    }
    return items;
  }

  /** Records the state now as a timeline point labelled `phase`. */
  snapshot(phase: string, extras: SnapshotExtras = {}): LedgerPoint {
    const items = this.items(extras);
    this.lastItems = items;
    const point = makePoint(phase, "end", items, tf.memory().numBytes, extras.step);
    this.points.push(point);
    return point;
  }

  /**
   * Runs `fn` under tf.profile, then records two points: the phase's peak (transient bytes above the
   * end level go to `transientCategory`) and its end. `extras` may depend on fn's result (e.g. its gradients).
   */
  async measure<T extends tf.TensorContainer>(
    phase: string,
    fn: () => T,
    options: { transientCategory?: MemoryCategory; extras?: (result: T) => SnapshotExtras } = {},
  ): Promise<{ result: T; peak: LedgerPoint; end: LedgerPoint }> {
    const start = tf.memory().numBytes;
    const info = await tf.profile(() => fn());
    const result = info.result as T;
    const endBytes = tf.memory().numBytes;
    const kernelPeak = info.kernels.length ? Math.max(...info.kernels.map((k) => k.totalBytesSnapshot)) : 0;
    const peakBytes = Math.max(start, endBytes, kernelPeak);
    const extras = options.extras?.(result) ?? {};
    const items = this.items(extras);
    const end = makePoint(phase, "end", items, endBytes, extras.step);
    const transient = peakBytes - endBytes;
    const peakItems = transient > 0 ? [...items, { category: options.transientCategory ?? "temporaries", bytes: transient, owner: phase, onBackend: true }] : items;
    const peak = makePoint(phase, "peak", peakItems, peakBytes, extras.step);
    this.lastItems = items;
    this.points.push(peak, end);
    return { result, peak, end };
  }

  /** Every point recorded so far, in order. */
  timeline(): readonly LedgerPoint[] {
    return this.points;
  }

  /** Forgets the timeline (reporters stay). */
  clear(): void {
    this.points.length = 0;
  }

  /** Bytes by category at the last point, or now when nothing was recorded. */
  current(): CategoryBytes {
    return this.points.length ? { ...this.points.at(-1)!.bytes } : sumBytes(this.items());
  }

  /** Highest bytes of each category over the timeline (and the highest total as `totalBytes`). */
  peak(): CategoryBytes & { totalBytes: number } {
    const out = { ...emptyBytes(), totalBytes: 0 };
    for (const p of this.points) {
      for (const c of MEMORY_CATEGORIES) out[c] = Math.max(out[c], p.bytes[c]);
      out.totalBytes = Math.max(out.totalBytes, p.totalBytes);
    }
    return out;
  }

  /** Bytes per owner (layer or parameter) at the last snapshot, largest first. */
  byOwner(): OwnerBytes[] {
    const items = this.lastItems.length ? this.lastItems : this.items();
    const owners = new Map<string, CategoryBytes>();
    for (const item of items) {
      const key = item.owner ?? "(unowned)";
      const bytes = owners.get(key) ?? emptyBytes();
      bytes[item.category] += item.bytes;
      owners.set(key, bytes);
    }
    return [...owners].map(([owner, bytes]) => ({ owner, bytes, totalBytes: total(bytes) })).sort((a, b) => b.totalBytes - a.totalBytes);
  }

  /** Compares what the reporters hold on the backend now with tf.memory().numBytes. */
  reconcile(extras: SnapshotExtras = {}): Reconciliation {
    const items = this.items(extras);
    const ledgerBackendBytes = items.filter((i) => i.onBackend).reduce((s, i) => s + i.bytes, 0);
    const hostBytes = items.filter((i) => !i.onBackend).reduce((s, i) => s + i.bytes, 0);
    const tfBytes = tf.memory().numBytes;
    const backend = tf.getBackend();
    const heap = backend === "wasm" ? (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.length : undefined;
    return { backend, ledgerBackendBytes, tfBytes, relativeError: tfBytes === 0 ? (ledgerBackendBytes === 0 ? 0 : 1) : Math.abs(ledgerBackendBytes - tfBytes) / tfBytes, hostBytes, ...(heap !== undefined ? { wasmHeapBytes: heap } : {}) };
  }
}

function total(bytes: CategoryBytes): number {
  return MEMORY_CATEGORIES.reduce((s, c) => s + bytes[c], 0);
}

function sumBytes(items: readonly MemoryItem[]): CategoryBytes {
  const bytes = emptyBytes();
  for (const item of items) bytes[item.category] += item.bytes;
  return bytes;
}

function makePoint(phase: string, at: LedgerPoint["at"], items: readonly MemoryItem[], measured: number, step?: number): LedgerPoint {
  const bytes = sumBytes(items);
  const backendBytes = items.filter((i) => i.onBackend).reduce((s, i) => s + i.bytes, 0);
  return { phase, ...(step !== undefined ? { step } : {}), at, bytes, totalBytes: total(bytes), backendBytes, measuredBackendBytes: measured, unaccountedBytes: measured - backendBytes };
}
