// Token embedding lookup with a gradient every backend can run: the backward pass scatters dy
// into the table as one_hot(ids)^T @ dy (a matMul), because tf.gather's own gradient needs
// UnsortedSegmentSum, which the wasm backend does not register.
import * as tf from "@tensorflow/tfjs-core";

/** table: [V, C], ids: [N] int32 -> [N, C]; differentiable with respect to the table on any backend. */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  const vocab = table.shape[0];
  const lookup = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [tableIn, idsIn, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    save([idsIn]);
    return {
      value: tf.gather(tableIn, idsIn), // [N, C]
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const savedIds = saved[0] as tf.Tensor1D;
        const oneHot = tf.cast(tf.oneHot(savedIds, vocab), "float32"); // [N, V] (wasm's float32 OneHot is wrong, so cast)
        // Transposed explicitly: wasm's matMul is far slower with transposeA (see matmul.ts).
        const dTable = tf.matMul(tf.transpose(oneHot), dy as tf.Tensor2D); // [V, N] x [N, C] -> [V, C]
        return [dTable, tf.zerosLike(savedIds)];
      },
    };
  });
  return lookup(table, ids) as tf.Tensor2D;
}
