// Where optimizer-state payloads live between steps (resident or paged), and the per-step paging
// record a chart draws.
import * as tf from "@tensorflow/tfjs-core";
import type { MemoryItem, MemoryReporter } from "../memory/types.js";
import type { HostArray } from "./moment_codec.js";
import { heapView, sliceInHeap } from "../ops/wasm_heap.js";

/** What paging did during one optimizer step (a plain record for charts and tables). */
export interface PagingRecord {
  /** 1-based optimizer step. */
  step: number;
  /** Pages brought onto the backend (including prefetches). */
  pagesIn: number;
  /** Pages moved off the backend (to host memory or the spill file). */
  pagesOut: number;
  /** Of pagesIn, how many were prefetches of the next chunk. */
  prefetched: number;
  bytesIn: number;
  bytesOut: number;
  /** Wall time spent moving pages (ms). */
  pagingMs: number;
  /** Wall time of the whole optimizer step (ms). */
  stepMs: number;
  /** Bytes of state resident as backend tensors at the end of the step. */
  residentBytes: number;
  /** Bytes of state in host memory or on disk at the end of the step. */
  pagedOutBytes: number;
  budgetBytes: number;
}

/**
 * Holds chunk payloads keyed by "param#chunk"; the optimizer pins one chunk at a time. A chunk spans
 * `pages` pages (default 1), which the paging counters report.
 */
export interface StatePlacement extends MemoryReporter {
  /** The chunk's payload as backend tensors (paged in if needed), or undefined when it has no state yet. */
  acquire(key: string): tf.Tensor[] | undefined;
  /** Replaces the chunk's payload (takes ownership of kept tensors; disposes the previous ones). */
  put(key: string, payload: tf.Tensor[], owner: string, pages?: number): void;
  /** Stores a host payload (from a checkpoint). */
  putHost(key: string, host: HostArray[], owner: string, pages?: number): void;
  /** A host copy of the chunk's payload without changing where it lives. */
  readHost(key: string): HostArray[] | undefined;
  /** Hint: this chunk is needed next. */
  prefetch(key: string): void;
  beginStep(): void;
  endStep(step: number, stepMs: number): PagingRecord | undefined;
  memoryItems(): MemoryItem[];
  dispose(): void;
}

/**
 * `t`'s elements without a copy where the backend allows: a view of the wasm heap (valid until the
 * next backend allocation) or the cpu backend's own array (do not write to it); elsewhere dataSync's copy.
 */
export function hostView(t: tf.Tensor): HostArray {
  return heapView(t) ?? (t.dataSync() as HostArray);
}

/**
 * A host copy of `t`'s elements that the caller owns. On wasm it is copied straight out of the heap into
 * `into` when that has the right type and length (so a page moving out reuses its previous host buffer
 * instead of allocating one); elsewhere it is dataSync's array (a copy, or a disposed tensor's buffer).
 */
export function hostCopy(t: tf.Tensor, into?: HostArray): HostArray {
  const view = heapView(t);
  if (!view) return t.dataSync() as HostArray;
  const fits = into !== undefined && into.length === view.length && into.constructor === view.constructor;
  const out = fits ? into : view instanceof Int32Array ? new Int32Array(view.length) : new Float32Array(view.length);
  out.set(view); // no allocation between taking the view and copying, so the heap cannot move under it
  return out;
}

/**
 * Elements [start, end) of a float32 tensor as a new [end - start] tensor without tf.slice (which on
 * wasm copies the whole input per call): on wasm one copy inside its heap, elsewhere a host slice.
 */
export function sliceElements(t: tf.Tensor, start: number, end: number): tf.Tensor1D {
  return sliceInHeap(t, start, end) ?? tf.tensor1d((t.dataSync() as Float32Array).slice(start, end), "float32");
}
