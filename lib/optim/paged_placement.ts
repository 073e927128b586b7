// Paged optimizer state (QLoRA section 3): payloads cut into fixed-size pages; a byte budget bounds
// the pages resident as backend tensors, the rest wait in host memory or a spill file. A chunk (one
// or more consecutive pages of a parameter, moved together) comes in before its update and the next
// chunk is prefetched when both fit; the least recently used unpinned chunk goes out. Moves are exact
// copies, so results equal the resident optimizer's.
import * as tf from "@tensorflow/tfjs-core";
import { closeSync, mkdirSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { bytesOfTensors } from "../memory/ledger.js";
import type { MemoryItem } from "../memory/types.js";
import type { HostArray } from "./moment_codec.js";
import { hostCopy, type PagingRecord, type StatePlacement } from "./placement.js";

/** Options for {@link PagedPlacement}. */
export interface PagedPlacementOptions {
  budgetBytes: number;
  spillDir?: string;
  prefetch: boolean;
}

interface Page {
  owner: string;
  bytes: number;
  /** Pages this chunk spans (the unit the counters report). */
  pages: number;
  lastUse: number;
  tensors?: tf.Tensor[];
  host?: HostArray[];
  /** The host buffers of the last page-in, reused by the next page-out (wasm; avoids allocating per move). */
  spare?: HostArray[];
  /** Where the page lies in the spill file: its offset, the bytes reserved there, and its arrays. */
  disk?: { offset: number; bytes: number; layout: Array<{ int32: boolean; length: number }> };
}

/** The part of a PagingRecord counted while a step runs. */
type StepCounters = Pick<PagingRecord, "pagesIn" | "pagesOut" | "prefetched" | "bytesIn" | "bytesOut" | "pagingMs">;

const zeroCounters = (): StepCounters => ({ pagesIn: 0, pagesOut: 0, prefetched: 0, bytesIn: 0, bytesOut: 0, pagingMs: 0 });
const hostBytes = (arrays: readonly HostArray[]) => arrays.reduce((s, a) => s + a.byteLength, 0);

/** LRU pager of optimizer-state payloads under a device byte budget. */
export class PagedPlacement implements StatePlacement {
  private readonly pages = new Map<string, Page>();
  private resident = 0;
  private clock = 0;
  private pinned: string | undefined;
  private counters = zeroCounters();
  private spill: { fd: number; path: string; end: number } | undefined;

  constructor(private readonly options: PagedPlacementOptions) {}

  /** Bytes of state resident as backend tensors now. */
  get residentBytes(): number {
    return this.resident;
  }

  acquire(key: string): tf.Tensor[] | undefined {
    const page = this.pages.get(key);
    this.pinned = key;
    if (!page) return undefined;
    if (!page.tensors) this.pageIn(key, page, false);
    page.lastUse = ++this.clock;
    return page.tensors;
  }

  put(key: string, payload: tf.Tensor[], owner: string, pages = 1): void {
    let page = this.pages.get(key);
    if (!page) {
      page = { owner, bytes: 0, pages, lastUse: 0 };
      this.pages.set(key, page);
    }
    page.pages = pages;
    if (page.tensors) {
      this.resident -= page.bytes;
      for (const t of page.tensors) if (!payload.includes(t)) t.dispose();
    }
    page.tensors = payload;
    page.host = undefined;
    page.bytes = bytesOfTensors(payload);
    page.lastUse = ++this.clock;
    this.resident += page.bytes;
    this.makeRoom(0, key);
    if (this.pinned === key) this.pinned = undefined;
  }

  putHost(key: string, host: HostArray[], owner: string, pages = 1): void {
    const old = this.pages.get(key);
    if (old?.tensors) {
      this.resident -= old.bytes;
      tf.dispose(old.tensors);
    }
    const page: Page = { owner, bytes: hostBytes(host), pages, lastUse: 0, host };
    this.pages.set(key, page);
    if (this.options.spillDir !== undefined) this.writeSpill(page, host);
  }

  readHost(key: string): HostArray[] | undefined {
    const page = this.pages.get(key);
    if (!page) return undefined;
    if (page.tensors) return page.tensors.map((t) => (t.dataSync() as HostArray).slice());
    if (page.host) return page.host.map((a) => a.slice());
    return this.readSpill(page);
  }

  prefetch(key: string): void {
    if (!this.options.prefetch) return;
    const page = this.pages.get(key);
    if (!page || page.tensors) return;
    const pinnedBytes = this.pinned ? (this.pages.get(this.pinned)?.bytes ?? 0) : 0;
    if (pinnedBytes + page.bytes > this.options.budgetBytes) return; // no room beside the page in use
    this.pageIn(key, page, true);
    page.lastUse = ++this.clock;
  }

  beginStep(): void {
    this.counters = zeroCounters();
  }

  endStep(step: number, stepMs: number): PagingRecord {
    let pagedOut = 0;
    for (const page of this.pages.values()) if (!page.tensors) pagedOut += page.bytes;
    const record = { step, ...this.counters, stepMs, residentBytes: this.resident, pagedOutBytes: pagedOut, budgetBytes: this.options.budgetBytes };
    this.counters = zeroCounters();
    return record;
  }

  memoryItems(): MemoryItem[] {
    const items: MemoryItem[] = [];
    for (const page of this.pages.values()) {
      if (page.tensors) items.push({ category: "optimizer_resident", bytes: page.bytes, owner: page.owner, onBackend: true, location: "backend" });
      else items.push({ category: "optimizer_paged_out", bytes: page.bytes, owner: page.owner, onBackend: false, location: page.host ? "host" : "disk" });
    }
    return items;
  }

  dispose(): void {
    for (const page of this.pages.values()) if (page.tensors) tf.dispose(page.tensors);
    this.pages.clear();
    this.resident = 0;
    if (this.spill) {
      closeSync(this.spill.fd);
      rmSync(this.spill.path, { force: true });
      this.spill = undefined;
    }
  }

  /** Evicts least recently used pages (never `keep` or the pinned one) until `incoming` more bytes fit. */
  private makeRoom(incoming: number, keep: string): void {
    while (this.resident + incoming > this.options.budgetBytes) {
      let victimKey: string | undefined;
      let victim: Page | undefined;
      for (const [key, page] of this.pages) {
        if (!page.tensors || key === keep || key === this.pinned) continue;
        if (!victim || page.lastUse < victim.lastUse) [victimKey, victim] = [key, page];
      }
      if (!victim || victimKey === undefined) return; // only the page in use is left
      this.pageOut(victim);
    }
  }

  private pageIn(key: string, page: Page, prefetch: boolean): void {
    this.makeRoom(page.bytes, key);
    const started = performance.now();
    const host = page.host ?? this.readSpill(page);
    page.tensors = host.map((a) => tf.keep(tf.tensor1d(a, a instanceof Int32Array ? "int32" : "float32")));
    // A wasm tensor copied the values into its heap, so the buffers can take the next page-out; on the
    // cpu backend the tensor keeps the array itself, which must then stay untouched.
    page.spare = tf.getBackend() === "wasm" && page.host ? page.host : undefined;
    page.host = undefined;
    this.resident += page.bytes;
    this.counters.pagesIn += page.pages;
    this.counters.bytesIn += page.bytes;
    if (prefetch) this.counters.prefetched += page.pages;
    this.counters.pagingMs += performance.now() - started;
  }

  private pageOut(page: Page): void {
    const started = performance.now();
    // A copy into the page's spare buffers (wasm) or the disposed tensor's own buffer (cpu): either way ours now.
    const host = page.tensors!.map((t, i) => hostCopy(t, page.spare?.[i]));
    page.spare = undefined;
    tf.dispose(page.tensors!);
    page.tensors = undefined;
    this.resident -= page.bytes;
    if (this.options.spillDir !== undefined) this.writeSpill(page, host);
    else page.host = host;
    this.counters.pagesOut += page.pages;
    this.counters.bytesOut += page.bytes;
    this.counters.pagingMs += performance.now() - started;
  }

  private writeSpill(page: Page, host: HostArray[]): void {
    if (!this.spill) {
      mkdirSync(this.options.spillDir!, { recursive: true });
      const path = join(this.options.spillDir!, `optimizer-state-${randomUUID()}.bin`);
      this.spill = { fd: openSync(path, "w+"), path, end: 0 };
    }
    if (!page.disk || page.disk.bytes < page.bytes) {
      page.disk = { offset: this.spill.end, bytes: page.bytes, layout: [] };
      this.spill.end += page.bytes;
    }
    page.disk.layout = host.map((a) => ({ int32: a instanceof Int32Array, length: a.length }));
    let position = page.disk.offset;
    for (const a of host) {
      writeSync(this.spill.fd, new Uint8Array(a.buffer, a.byteOffset, a.byteLength), 0, a.byteLength, position);
      position += a.byteLength;
    }
    page.host = undefined;
  }

  private readSpill(page: Page): HostArray[] {
    let position = page.disk!.offset;
    return page.disk!.layout.map(({ int32, length }) => {
      const a = int32 ? new Int32Array(length) : new Float32Array(length);
      readSync(this.spill!.fd, new Uint8Array(a.buffer), 0, a.byteLength, position);
      position += a.byteLength;
      return a;
    });
  }
}
