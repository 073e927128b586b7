// Matrix products whose forward AND backward run as untransposed (NN) 2-D matMuls. TF.js's wasm
// BatchMatMul reaches XNNPACK's fast GEMM only for one untransposed 2-D product; with a transpose
// flag or a batch above 1 it falls back to a scalar loop (tfjs-backend-wasm batch_mat_mul_impl.cc,
// ~0.6 GFLOP/s against ~6-15), and tf.matMul's own gradient asks for exactly those (dy^T x, dy W^T).
import * as tf from "@tensorflow/tfjs-core";
import { activeWasmBackend } from "./wasm_heap.js";
import { customOp, customOpFootprint } from "./custom_op.js";
import type { Handle, TapeValue, Timeline, Traced } from "./footprint.js";
import { isNativeWork, nativeProduct } from "./native_product.js";
import { isThinShape, thinProduct, thinProductAvailable } from "./thin_product.js";
import { adoptTensor } from "./adopt_tensor.js";

/** Smallest per-matrix m * k * n for which wasm batches run as separate 2-D products (below it, per-op cost wins). */
const GROUPED_MIN_WORK = 32 * 32 * 32;

/** The last two axes swapped: [..., m, n] -> [..., n, m]. */
function swapLast<T extends tf.Tensor>(x: T): T {
  const rank = x.rank;
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return tf.transpose(x, perm);
}

/** rows x cols matrix at `from` of `src`, copied (transposed: as cols x rows) to `to` of `dst`. */
function copyMatrix(src: Float32Array, from: number, rows: number, cols: number, transpose: boolean, dst: Float32Array, to: number): void {
  if (!transpose) {
    dst.set(src.subarray(from, from + rows * cols), to);
    return;
  }
  for (let r = 0; r < rows; r++) {
    const base = from + r * cols;
    for (let c = 0; c < cols; c++) dst[to + c * rows + r] = src[base + c]!;
  }
}

/**
 * op(a) @ op(b) for a, b: [G, ., .] on wasm, one untransposed 2-D product per matrix of the batch
 * (XNNPACK's path); each matrix is copied out, transposed on the way where asked. In the wasm heap
 * (no host copies) when it is reachable; only one matrix's operands are alive at a time.
 */
function groupedProduct(a: tf.Tensor3D, b: tf.Tensor3D, transposeA: boolean, transposeB: boolean): tf.Tensor3D {
  const [groups, a1, a2] = a.shape;
  const [, b1, b2] = b.shape;
  const [m, k] = transposeA ? [a2, a1] : [a1, a2];
  const n = transposeB ? b1 : b2;
  const wasm = activeWasmBackend();
  if (!wasm) {
    return tf.tidy(() => {
      const aData = a.dataSync() as Float32Array;
      const bData = b.dataSync() as Float32Array;
      const left = new Float32Array(m * k);
      const right = new Float32Array(k * n);
      const out = new Float32Array(groups * m * n);
      for (let g = 0; g < groups; g++) {
        copyMatrix(aData, g * m * k, a1, a2, transposeA, left, 0); // [m, k]
        copyMatrix(bData, g * k * n, b1, b2, transposeB, right, 0); // [k, n]
        const product = tf.tidy(() => tf.matMul(tf.tensor2d(left, [m, k]), tf.tensor2d(right, [k, n]))); // [m, n]
        out.set(product.dataSync() as Float32Array, g * m * n);
        product.dispose();
      }
      return tf.tensor3d(out, [groups, m, n]);
    });
  }
  const { backend, memory } = wasm;
  const engine = tf.engine();
  const floatAt = (t: tf.TensorInfo | tf.Tensor) => backend.getMemoryOffset(t.dataId) / 4;
  const out = backend.makeOutput([groups, m, n], "float32");
  for (let g = 0; g < groups; g++) {
    const leftInfo = backend.makeOutput([m, k], "float32");
    const rightInfo = backend.makeOutput([k, n], "float32");
    let heap = new Float32Array(memory.buffer); // a view taken after the allocations (the heap may have grown)
    copyMatrix(heap, floatAt(a) + g * m * k, a1, a2, transposeA, heap, floatAt(leftInfo)); // [m, k]
    copyMatrix(heap, floatAt(b) + g * k * n, b1, b2, transposeB, heap, floatAt(rightInfo)); // [k, n]
    const left = engine.makeTensorFromTensorInfo(leftInfo) as tf.Tensor2D;
    const right = engine.makeTensorFromTensorInfo(rightInfo) as tf.Tensor2D;
    const product = tf.matMul(left, right); // [m, n]
    heap = new Float32Array(memory.buffer);
    heap.copyWithin(floatAt(out) + g * m * n, floatAt(product), floatAt(product) + m * n);
    tf.dispose([left, right, product]);
  }
  return adoptTensor<tf.Tensor3D>(out, "groupedProduct"); // [G, m, n]
}

/** Whether op(a) @ op(b) runs as separate 2-D products: a wasm batch (rank 3) whose matrices are large enough. */
function grouped(a: tf.Tensor, b: tf.Tensor, m: number, k: number, n: number): boolean {
  return a.rank === 3 && b.shape[0] === a.shape[0] && isGroupedProduct(a.shape[0]!, m, k, n);
}

/** Cost of XNNPACK packing one element of a GEMM's right operand, relative to transposing one (both measured per element on wasm). */
const PACK_COST = 0.75;

/** op(a) @ op(b) as written, on wasm: separate 2-D products for a large batch, else tf.matMul of transposed copies. */
function productAsWritten<T extends tf.Tensor>(a: T, b: T, transposeA: boolean, transposeB: boolean, m: number, k: number, n: number): T {
  if (grouped(a, b, m, k, n)) return groupedProduct(a as unknown as tf.Tensor3D, b as unknown as tf.Tensor3D, transposeA, transposeB) as unknown as T;
  return tf.tidy(() => tf.matMul(transposeA ? swapLast(a) : a, transposeB ? swapLast(b) : b) as unknown as T); // [..., m, n]
}

/**
 * op(a) @ op(b) without a gradient of its own (for code that writes its own gradient). On wasm through
 * NN products only, either as written or as (op(b)^T op(a)^T)^T, whichever moves fewer elements:
 * transposed copies (free in a grouped product, which transposes while it copies each matrix out)
 * and XNNPACK's packing of the right operand, which costs about as much per element (so a weight
 * gradient dy^T x moves the small one of dy and x). Other backends multiply transposed operands natively.
 * A large enough product goes to the native engine when it is active (native_product.ts), transposes and all.
 */
export function productNN<T extends tf.Tensor>(a: T, b: T, transposeA: boolean, transposeB: boolean): T {
  const native = nativeProduct(a, b, transposeA, transposeB);
  if (native) return native;
  if (tf.getBackend() !== "wasm") return tf.matMul(a, b, transposeA, transposeB) as unknown as T;
  const [a1, a2] = a.shape.slice(-2) as [number, number];
  const [b1, b2] = b.shape.slice(-2) as [number, number];
  const [m, k] = transposeA ? [a2, a1] : [a1, a2];
  const n = transposeB ? b1 : b2;
  const plan = productPlan(m, k, n, transposeA, transposeB, a.rank === 2 && b.rank === 2 ? null : a.shape[0]!, thinProductAvailable());
  if (plan === "thin") return thinProduct(a as unknown as tf.Tensor2D, b as unknown as tf.Tensor2D) as unknown as T; // a^T b, a: [k, m]
  if (plan === "thin-transposed") return tf.tidy(() => swapLast(thinProduct(b as unknown as tf.Tensor2D, a as unknown as tf.Tensor2D))) as unknown as T; // (b^T a)^T
  if (plan === "swapped") return tf.tidy(() => swapLast(productAsWritten(b, a, !transposeB, !transposeA, n, k, m))); // ([..., n, m])^T
  return productAsWritten(a, b, transposeA, transposeB, m, k, n);
}

/** How productNN multiplies op(a) [m, k] x op(b) [k, n] on wasm (see productNN). */
export type ProductPlan = "thin" | "thin-transposed" | "as-written" | "swapped";

/**
 * productNN's choice on wasm for op(a) [m, k] x op(b) [k, n], 2-D (`batch` null) or a batch of `batch`
 * matrices: a 2-D a^T b with a thin side (a LoRA weight gradient: one side at most THIN_MAX_ROWS) goes to
 * the SIMD kernel of thin_product.ts when it is `thinAvailable`; otherwise as written or swapped,
 * whichever moves fewer elements.
 */
export function productPlan(m: number, k: number, n: number, transposeA: boolean, transposeB: boolean, batch: number | null, thinAvailable: boolean): ProductPlan {
  if (batch === null && transposeA && !transposeB && thinAvailable) {
    if (isThinShape(k, m, n)) return "thin";
    if (isThinShape(k, n, m)) return "thin-transposed";
  }
  const copies = batch !== null && isGroupedProduct(batch, m, k, n) ? 0 : 1; // a grouped product transposes while it copies each matrix out
  const asWritten = copies * ((transposeA ? m * k : 0) + (transposeB ? k * n : 0)) + PACK_COST * k * n;
  const swapped = copies * ((transposeA ? 0 : m * k) + (transposeB ? 0 : k * n)) + m * n + PACK_COST * m * k;
  return swapped < asWritten ? "swapped" : "as-written";
}

/** Whether a product of `groups` matrices [m, k] x [k, n] runs as separate 2-D products on wasm. */
export function isGroupedProduct(groups: number, m: number, k: number, n: number): boolean {
  return groups > 1 && m * k * n >= GROUPED_MIN_WORK;
}

/**
 * op(a) @ op(b) for rank-2 or batched rank-3 tensors, as tf.matMul(a, b, transposeA, transposeB),
 * differentiable through a gradient that also uses only NN products.
 */
export function matMulNN<T extends tf.Tensor2D | tf.Tensor3D>(a: T, b: T, transposeA = false, transposeB = false): T {
  return customOp<[T, T], T>({
    forward: (aIn, bIn) => productNN(aIn, bIn, transposeA, transposeB), // [..., m, n]
    save: (aIn, bIn) => [aIn, bIn],
    backward: (dy, saved) => {
      const [a0, b0] = saved as [T, T];
      // y = op(A) op(B): d op(A) = dy op(B)^T, d op(B) = op(A)^T dy; a transposed input takes the transpose back.
      return [
        transposeA ? productNN(b0, dy, transposeB, true) : productNN(dy, b0, false, !transposeB),
        transposeB ? productNN(dy, a0, true, transposeA) : productNN(a0, dy, !transposeA, false),
      ];
    },
  })(a, b);
}

/**
 * x @ op(w) for x: [N, k] and a weight that gets no gradient (a frozen base, a constant): the gradient
 * goes to x alone, as dy @ op(w)^T, and w is neither saved nor copied. The caller keeps w alive until
 * the backward has run (a layer's weight lives as long as the layer).
 */
export function matMulFrozen(x: tf.Tensor2D, w: tf.Tensor2D, transposeW = false): tf.Tensor2D {
  return customOp<[tf.Tensor2D], tf.Tensor2D>({
    forward: (xIn) => productNN(xIn, w, false, transposeW), // [N, n]
    backward: (dy) => productNN(dy, w, false, !transposeW), // [N, n] x op(w)^T -> [N, k]
  })(x);
}

/** Whether autodiff can ask for the gradient of a weight: only a trainable tf.Variable (tf.variableGrads skips the rest). */
export function isTrainable(w: tf.Tensor): boolean {
  return w instanceof tf.Variable && w.trainable;
}

/** x @ w^T for x: [N, in] and a weight w: [out, in] -> [N, out]; a weight that does not train takes {@link matMulFrozen}. */
export function matMulWeight(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  return isTrainable(w) ? matMulNN(x, w, false, true) : matMulFrozen(x, w, true);
}

/**
 * productNN's footprint: op(a) [m, k] x op(b) [k, n] (2-D, or per matrix of a batch of `groups`),
 * allocated in the current scope; returns the product's handle. On wasm as productPlan says:
 * transposed copies in a tidy, per-matrix operands one at a time (grouped), or the thin kernel's
 * output; elsewhere just the product.
 */
export function productFootprint(t: Timeline, m: number, k: number, n: number, transposeA: boolean, transposeB: boolean, groups: number | null = null): Handle {
  const count = groups ?? 1;
  if (t.nativeProducts && isNativeWork(count, m, k, n)) return t.alloc(count * m * n); // nativeProduct: the output only, transposes and all
  if (t.backend !== "wasm") return t.alloc(count * m * n);
  const grouped = groups !== null && isGroupedProduct(groups, m, k, n);
  const asWritten = (mm: number, kk: number, nn: number, tA: boolean, tB: boolean): Handle => {
    if (grouped) {
      const out = t.alloc(count * mm * nn);
      t.free(t.alloc(mm * kk), t.alloc(kk * nn), t.alloc(mm * nn)); // one matrix's operands and product
      return out;
    }
    return t.tidy(() => {
      if (tA) t.alloc(count * mm * kk);
      if (tB) t.alloc(count * kk * nn);
      return t.alloc(count * mm * nn);
    });
  };
  switch (productPlan(m, k, n, transposeA, transposeB, groups, true)) {
    case "thin":
      return t.alloc(m * n);
    case "thin-transposed":
      return t.tidy(() => {
        t.alloc(n * m);
        return t.alloc(m * n);
      });
    case "as-written":
      return asWritten(m, k, n, transposeA, transposeB);
    case "swapped":
      return t.tidy(() => {
        asWritten(n, k, m, !transposeB, !transposeA);
        return t.alloc(count * m * n); // the transposed result
      });
  }
}

/** matMulNN(a [m, k], b [n, k], false, true)'s footprint: saves a and b; da = dy b, db = dy^T a. */
export function matMulNNFootprint(t: Timeline, a: Traced, b: TapeValue, m: number, k: number, n: number): Traced {
  return customOpFootprint(t, [a[1], b], t.value(m * n, a[1].onPath || b.onPath), () => productFootprint(t, m, k, n, false, true), [m * k, n * k], () =>
    t.tidy(() => [productFootprint(t, m, n, k, false, false), productFootprint(t, n, m, k, true, false)]),
  );
}

/** matMulFrozen(x [rows, in], w [out, in], true)'s footprint: nothing saved; dx = dy w. */
export function matMulFrozenFootprint(t: Timeline, x: Traced, rows: number, inFeatures: number, outFeatures: number): Traced {
  return customOpFootprint(t, [x[1]], t.value(rows * outFeatures, x[1].onPath), () => productFootprint(t, rows, inFeatures, outFeatures, false, true), [], () => [
    t.tidy(() => productFootprint(t, rows, outFeatures, inFeatures, false, false)),
  ]);
}
