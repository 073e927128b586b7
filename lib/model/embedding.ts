// Token embedding lookup with a gradient every backend can run: tf.gather's own gradient needs
// UnsortedSegmentSum, which the wasm backend does not register. On the host backends (wasm, cpu)
// the backward adds each row of dy into its token's row on the host (N * C additions); elsewhere it
// scatters as one_hot(ids)^T @ dy (a matMul).
import * as tf from "@tensorflow/tfjs-core";
import { InvalidArgumentError, expected } from "../errors.js";
import type { TapeValue, Timeline, Traced } from "../ops/footprint.js";
import { gatherRowsInHeap, heapView } from "../ops/wasm_heap.js";

/**
 * ids, checked to be rows of a [vocab, C] table where the lookup copies rows within the wasm heap
 * (gatherRowsInHeap does not check; tf.gather, used elsewhere, does).
 */
function checkedIds(ids: tf.Tensor1D, vocab: number): tf.Tensor1D {
  const index = heapView(ids) ?? [];
  for (let i = 0; i < index.length; i++) {
    const id = index[i]!;
    if (!(id >= 0 && id < vocab)) throw new InvalidArgumentError("embeddingLookup", expected(`token ids in [0, ${vocab})`, id, `Position ${i} is out of range.`));
  }
  return ids;
}

/** dTable [V, C] = sum over rows i of dy[i] into row ids[i], computed on the host. */
function scatterRows(dy: tf.Tensor2D, ids: tf.Tensor1D, vocab: number): tf.Tensor2D {
  const width = dy.shape[1];
  const rows = dy.dataSync() as Float32Array; // [N, C]
  const index = ids.dataSync();
  const table = new Float32Array(vocab * width); // [V, C]
  for (let i = 0; i < index.length; i++) {
    const to = index[i]! * width;
    const from = i * width;
    for (let c = 0; c < width; c++) table[to + c]! += rows[from + c]!;
  }
  return tf.tensor2d(table, [vocab, width]);
}

/** table: [V, C], ids: [N] int32 -> [N, C]; differentiable with respect to the table on any backend. */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  const vocab = table.shape[0];
  const lookup = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [tableIn, idsIn, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    save([idsIn]);
    return {
      // [N, C]; wasm's GatherV2 takes about 7 ms for 1,024 rows of 256 on one core, the heap copy about 0.05 ms
      value: gatherRowsInHeap(tableIn, checkedIds(idsIn, vocab)) ?? tf.gather(tableIn, idsIn),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const savedIds = saved[0] as tf.Tensor1D;
        const backend = tf.getBackend();
        if (backend === "wasm" || backend === "cpu") return [scatterRows(dy as tf.Tensor2D, savedIds, vocab), tf.zerosLike(savedIds)];
        const oneHot = tf.cast(tf.oneHot(savedIds, vocab), "float32"); // [N, V] (wasm's float32 OneHot is wrong, so cast)
        const dTable = tf.matMul(oneHot, dy as tf.Tensor2D, true, false); // [V, N] x [N, C] -> [V, C]
        return [dTable, tf.zerosLike(savedIds)];
      },
    };
  });
  return lookup(table, ids) as tf.Tensor2D;
}

/**
 * embeddingLookup's footprint (ops/footprint.ts) for `rows` ids into a [V, C] table: saves the ids and
 * keeps them and dy to the end; its gradient (on the path only when the table trains) scatters rows
 * on the host backends, multiplies by a one-hot [N, V] on tensorflow, and makes zeros for the ids.
 */
export function embeddingFootprint(t: Timeline, table: TapeValue, rows: number, vocab: number, width: number): Traced {
  const out = t.value(rows * width, table.onPath);
  t.record([table, t.value(rows, false)], out, [rows], false, () => {
    if (t.backend === "tensorflow") t.alloc(2 * rows * vocab, "temporaries", false); // one-hot, int32 and float32, never freed
    return [t.gradient(vocab * width), t.gradient(rows)];
  });
  return [t.alloc(rows * width), out];
}
