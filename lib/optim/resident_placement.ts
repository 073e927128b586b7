// Placement of optimizer state that keeps every chunk's payload resident as backend tensors.
import * as tf from "@tensorflow/tfjs-core";
import { bytesOfTensors } from "../memory/ledger.js";
import type { MemoryItem } from "../memory/types.js";
import type { HostArray } from "./moment_codec.js";
import type { PagingRecord, StatePlacement } from "./placement.js";

/** Every payload stays on the backend (the reference placement). */
export class ResidentPlacement implements StatePlacement {
  private readonly entries = new Map<string, { payload: tf.Tensor[]; owner: string }>();

  acquire(key: string): tf.Tensor[] | undefined {
    return this.entries.get(key)?.payload;
  }

  put(key: string, payload: tf.Tensor[], owner: string): void {
    const old = this.entries.get(key);
    this.entries.set(key, { payload, owner });
    if (old) for (const t of old.payload) if (!payload.includes(t)) t.dispose();
  }

  putHost(key: string, host: HostArray[], owner: string): void {
    this.put(key, host.map((a) => tf.keep(tf.tensor1d(a, a instanceof Int32Array ? "int32" : "float32"))), owner);
  }

  readHost(key: string): HostArray[] | undefined {
    return this.entries.get(key)?.payload.map((t) => (t.dataSync() as HostArray).slice());
  }

  prefetch(): void {}

  beginStep(): void {}

  endStep(): PagingRecord | undefined {
    return undefined;
  }

  memoryItems(): MemoryItem[] {
    return [...this.entries.values()].map(({ payload, owner }) => ({
      category: "optimizer_resident",
      bytes: bytesOfTensors(payload),
      owner,
      onBackend: true,
    }));
  }

  dispose(): void {
    for (const { payload } of this.entries.values()) for (const t of payload) t.dispose();
    this.entries.clear();
  }
}
