// Singular value decompositions for the SVD-based adapter initialisations (PiSSA, LoftQ), in float64
// on the host: an exact thin SVD (one-sided Jacobi), as torch.linalg.svd(full_matrices=False) gives,
// and a randomized truncated one with power iterations, as torch.svd_lowrank(A, q, niter) computes it
// (Halko, Martinsson and Tropp 2011, algorithm 4.4 then 5.1).
import { InvalidArgumentError, expected } from "../errors.js";
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

/** a @ b. */
export function matmul(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) throw new InvalidArgumentError("matmul", expected(`inner dimensions to agree`, `[${a.rows}, ${a.cols}] @ [${b.rows}, ${b.cols}]`));
  const out = new Float64Array(a.rows * b.cols);
  for (let i = 0; i < a.rows; i++) {
    const row = i * b.cols;
    for (let k = 0; k < a.cols; k++) {
      const aik = a.data[i * a.cols + k]!;
      if (aik === 0) continue;
      const bRow = k * b.cols;
      for (let j = 0; j < b.cols; j++) out[row + j]! += aik * b.data[bRow + j]!;
    }
  }
  return { rows: a.rows, cols: b.cols, data: out };
}

/**
 * The exact thin SVD of `m` (k = min(rows, cols)) by one-sided Jacobi rotations in float64: the
 * columns of the taller orientation are rotated pairwise until orthogonal; their norms are the
 * singular values. Cost grows as rows * cols * min(rows, cols) per sweep: fine for the shapes of
 * small models; for large layers use {@link randomizedSvd} (PEFT's "pissa_niter_N").
 */
export function svd(m: Matrix): Svd {
  if (m.rows < m.cols) {
    const t = svd(transpose(m)); // M^T = U S Vh  =>  M = Vh^T S U^T
    return { u: transpose(t.vh), s: t.s, vh: transpose(t.u) };
  }
  const rows = m.rows;
  const n = m.cols;
  // Work on columns: a[j] is column j of M (length rows); v accumulates the rotations (n x n).
  const a = Array.from({ length: n }, (_, j) => {
    const col = new Float64Array(rows);
    for (let i = 0; i < rows; i++) col[i] = m.data[i * n + j]!;
    return col;
  });
  const v = Array.from({ length: n }, (_, j) => {
    const col = new Float64Array(n);
    col[j] = 1;
    return col;
  });
  const eps = 1e-15;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const ap = a[p]!;
        const aq = a[q]!;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < rows; i++) {
          alpha += ap[i]! * ap[i]!;
          beta += aq[i]! * aq[i]!;
          gamma += ap[i]! * aq[i]!;
        }
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        // The rotation that zeroes the (p, q) entry of the Gram matrix.
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < rows; i++) {
          const x = ap[i]!;
          const y = aq[i]!;
          ap[i] = c * x - s * y;
          aq[i] = s * x + c * y;
        }
        const vp = v[p]!;
        const vq = v[q]!;
        for (let i = 0; i < n; i++) {
          const x = vp[i]!;
          const y = vq[i]!;
          vp[i] = c * x - s * y;
          vq[i] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = a.map((col) => Math.sqrt(col.reduce((sum, x) => sum + x * x, 0)));
  const order = norms.map((_, j) => j).sort((i, j) => norms[j]! - norms[i]!);
  const u = new Float64Array(rows * n);
  const s = new Float64Array(n);
  const vh = new Float64Array(n * n);
  order.forEach((j, k) => {
    const sigma = norms[j]!;
    s[k] = sigma;
    for (let i = 0; i < rows; i++) u[i * n + k] = sigma > 0 ? a[j]![i]! / sigma : 0;
    for (let i = 0; i < n; i++) vh[k * n + i] = v[j]![i]!;
  });
  return { u: { rows, cols: n, data: u }, s, vh: { rows: n, cols: n, data: vh } };
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

/** Orthonormal columns spanning those of `m` (modified Gram-Schmidt, applied twice for float64 accuracy). */
function orthonormalColumns(m: Matrix): Matrix {
  const { rows, cols } = m;
  const out = Float64Array.from(m.data);
  for (let j = 0; j < cols; j++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < j; k++) {
        let dot = 0;
        for (let i = 0; i < rows; i++) dot += out[i * cols + k]! * out[i * cols + j]!;
        for (let i = 0; i < rows; i++) out[i * cols + j]! -= dot * out[i * cols + k]!;
      }
    }
    let norm = 0;
    for (let i = 0; i < rows; i++) norm += out[i * cols + j]! ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < rows; i++) out[i * cols + j] = norm > 0 ? out[i * cols + j]! / norm : 0;
  }
  return { rows, cols, data: out };
}
