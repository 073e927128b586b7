// The key/value cache for incremental decoding: per layer, the rotated keys and the values of every
// position seen so far, so each new token attends to the past without recomputing it.
// Legend: B batch, K key/value heads, S cached positions, D head width.
import * as tf from "@tensorflow/tfjs-core";
import { bytesOfTensors } from "../memory/ledger.js";
import type { MemoryItem, MemoryReporter } from "../memory/types.js";

/** Keys and values per layer, each [B*K, S, D]; owns its tensors until dispose(). */
export class KvCache implements MemoryReporter {
  private keys: (tf.Tensor3D | undefined)[];
  private values: (tf.Tensor3D | undefined)[];

  constructor(readonly numLayers: number) {
    this.keys = new Array(numLayers).fill(undefined);
    this.values = new Array(numLayers).fill(undefined);
  }

  /** S: positions cached so far. */
  get length(): number {
    return this.keys[0]?.shape[1] ?? 0;
  }

  /** Appends this step's k, v ([B*K, T, D]) to layer `layer`; returns the full [B*K, S+T, D] pair. */
  append(layer: number, k: tf.Tensor3D, v: tf.Tensor3D): [tf.Tensor3D, tf.Tensor3D] {
    const oldK = this.keys[layer];
    const oldV = this.values[layer];
    const fullK = oldK ? (tf.concat([oldK, k], 1) as tf.Tensor3D) : k; // [B*K, S+T, D]
    const fullV = oldV ? (tf.concat([oldV, v], 1) as tf.Tensor3D) : v;
    this.keys[layer] = tf.keep(fullK);
    this.values[layer] = tf.keep(fullV);
    oldK?.dispose();
    oldV?.dispose();
    return [fullK, fullV];
  }

  memoryItems(): MemoryItem[] {
    const bytes = bytesOfTensors([...this.keys, ...this.values]);
    return bytes > 0 ? [{ category: "activations", bytes, owner: "kv_cache", onBackend: true }] : [];
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t?.dispose();
    this.keys.fill(undefined);
    this.values.fill(undefined);
  }
}
