// Where optimizer-state payloads live between steps (resident or paged), and the per-step paging
// record a chart draws.
import type * as tf from "@tensorflow/tfjs-core";
import type { MemoryItem, MemoryReporter } from "../memory/types.js";
import type { HostArray } from "./moment_codec.js";

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

/** Holds chunk payloads keyed by "param#chunk"; the optimizer pins one chunk at a time. */
export interface StatePlacement extends MemoryReporter {
  /** The chunk's payload as backend tensors (paged in if needed), or undefined when it has no state yet. */
  acquire(key: string): tf.Tensor[] | undefined;
  /** Replaces the chunk's payload (takes ownership of kept tensors; disposes the previous ones). */
  put(key: string, payload: tf.Tensor[], owner: string): void;
  /** Stores a host payload (from a checkpoint). */
  putHost(key: string, host: HostArray[], owner: string): void;
  /** A host copy of the chunk's payload without changing where it lives. */
  readHost(key: string): HostArray[] | undefined;
  /** Hint: this chunk is needed next. */
  prefetch(key: string): void;
  beginStep(): void;
  endStep(step: number, stepMs: number): PagingRecord | undefined;
  memoryItems(): MemoryItem[];
  dispose(): void;
}
