// Singular value decompositions for the SVD-based adapter initialisations (PiSSA, LoftQ), in float64
// on the host: an exact thin SVD (ml-matrix's), as torch.linalg.svd(full_matrices=False) gives,
// and a randomized truncated one with power iterations, as torch.svd_lowrank(A, q, niter) computes it
// (Halko, Martinsson and Tropp 2011, algorithm 4.4 then 5.1).
import { InvalidArgumentError, expected } from "../errors.js";
import { Matrix as MlMatrix, QrDecomposition, SingularValueDecomposition } from "ml-matrix";
import { seededNormal } from "../quant/random_normal.js";

/** A row-major matrix of float64 values. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** A thin SVD M ≈ U diag(s) Vh, singular values in descending order. */
export interface Svd {
  /** [rows, k] left singular vectors as columns. */
  u: Matrix;
  /** k singular values, largest first. */
  s: Float64Array;
  /** [k, cols] right singular vectors as rows. */
  vh: Matrix;
}

/** A [rows, cols] float64 matrix from float32 (or float64) row-major values. */
export function matrixFrom(values: ArrayLike<number>, rows: number, cols: number): Matrix {
  if (values.length !== rows * cols) throw new InvalidArgumentError("matrixFrom", expected(`${rows * cols} values for [${rows}, ${cols}]`, values.length));
  return { rows, cols, data: Float64Array.from(values) };
}

/** The transpose of `m` (a new matrix). */
export function transpose(m: Matrix): Matrix {
  const out = new Float64Array(m.rows * m.cols);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) out[j * m.rows + i] = m.data[i * m.cols + j]!;
  return { rows: m.cols, cols: m.rows, data: out };
}

/** `m` as an ml-matrix Matrix, and back. */
const toMl = (m: Matrix) => new MlMatrix(Array.from({ length: m.rows }, (_, i) => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols))));
const fromMl = (m: MlMatrix): Matrix => ({ rows: m.rows, cols: m.columns, data: Float64Array.from(m.to1DArray()) });

/** a @ b. */
export function matmul(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) throw new InvalidArgumentError("matmul", expected(`inner dimensions to agree`, `[${a.rows}, ${a.cols}] @ [${b.rows}, ${b.cols}]`));
  return fromMl(toMl(a).mmul(toMl(b)));
}

/**
 * The exact thin SVD of `m` (k = min(rows, cols)), as torch.linalg.svd(m, full_matrices=False) gives
 * it, by ml-matrix's Golub-Kahan SVD in float64. Cost grows as rows * cols * min(rows, cols): fine for
 * the shapes of small models; for large layers use {@link randomizedSvd} (PEFT's "pissa_niter_N").
 */
export function svd(m: Matrix): Svd {
  const k = Math.min(m.rows, m.cols);
  const d = new SingularValueDecomposition(toMl(m), { computeLeftSingularVectors: true, computeRightSingularVectors: true, autoTranspose: true });
  const u = fromMl(d.leftSingularVectors.subMatrix(0, m.rows - 1, 0, k - 1)); // [rows, k]
  const vh = fromMl(d.rightSingularVectors.subMatrix(0, m.cols - 1, 0, k - 1).transpose()); // [k, cols]
  return { u, s: Float64Array.from(d.diagonal.slice(0, k)), vh };
}

/** The first `k` singular triplets of an SVD. */
export function truncateSvd(full: Svd, k: number): Svd {
  const take = Math.min(k, full.s.length);
  const u = new Float64Array(full.u.rows * take);
  for (let i = 0; i < full.u.rows; i++) for (let j = 0; j < take; j++) u[i * take + j] = full.u.data[i * full.u.cols + j]!;
  return { u: { rows: full.u.rows, cols: take, data: u }, s: full.s.slice(0, take), vh: { rows: take, cols: full.vh.cols, data: full.vh.data.slice(0, take * full.vh.cols) } };
}

/**
 * A rank-`q` SVD of `m` as torch.svd_lowrank(m, q, niter) computes it: an orthonormal basis Q of
 * m @ G (G Gaussian [cols, q], drawn from `seed`), refined by `niter` power iterations
 * (Q = orth(m^T Q), then orth(m Q)), then the exact SVD of the small Q^T m. The more iterations,
 * the closer to the exact top-q triplets when the spectrum decays slowly.
 */
export function randomizedSvd(m: Matrix, q: number, niter: number, seed = 0): Svd {
  if (!(Number.isInteger(q) && q >= 1 && q <= Math.min(m.rows, m.cols))) throw new InvalidArgumentError("randomizedSvd", expected(`a rank q in 1..${Math.min(m.rows, m.cols)}`, q));
  if (!(Number.isInteger(niter) && niter >= 0)) throw new InvalidArgumentError("randomizedSvd", expected("niter, a non-negative integer", niter));
  const gaussian = seededNormal(m.cols * q, seed);
  const g: Matrix = { rows: m.cols, cols: q, data: Float64Array.from(gaussian) };
  const mt = transpose(m);
  let basis = orthonormalColumns(matmul(m, g)); // [rows, q]
  for (let i = 0; i < niter; i++) {
    basis = orthonormalColumns(matmul(mt, basis)); // [cols, q]
    basis = orthonormalColumns(matmul(m, basis)); // [rows, q]
  }
  const small = matmul(transpose(basis), m); // [q, cols]
  const inner = svd(small);
  return { u: matmul(basis, inner.u), s: inner.s, vh: inner.vh };
}

/** Orthonormal columns spanning those of `m` [rows, cols], rows >= cols: the thin Q of its QR decomposition. */
function orthonormalColumns(m: Matrix): Matrix {
  return fromMl(new QrDecomposition(toMl(m)).orthogonalMatrix);
}
