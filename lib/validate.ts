// Checks of values at the library's public boundaries, each throwing an InvalidArgumentError in the
// project's message form ("<where>: expected <name> to be ..., got <value>. <hint>"), and the scan
// for NaN and Infinity in tensor values (a TensorError names the tensor and what was found).
import { InvalidArgumentError, TensorError, expected } from "./errors.js";

/** The largest finite float32, the limit of any value a tensor holds. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** Index of the first NaN or +-Infinity in `values`, or -1. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) return i; // NaN - NaN and Inf - Inf are NaN; every finite v gives 0
  }
  return -1;
}

/** Throws a TensorError unless every value of tensor `name` is finite. */
export function requireFiniteValues(where: string, name: string, values: ArrayLike<number>, hint?: string): void {
  const at = firstNonFinite(values);
  if (at >= 0) throw new TensorError(where, expected(`finite values in "${name}"`, `${values[at]} at element ${at} of ${values.length}`, hint));
}

/** Throws unless `value` is an array (or typed array); returns it as an array-like. */
export function requireArray<T>(where: string, name: string, value: unknown): ArrayLike<T> {
  const ok = Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
  if (!ok) throw new InvalidArgumentError(where, expected(`${name} to be an array`, value));
  return value as unknown as ArrayLike<T>;
}

/** Throws unless `value` is a finite number. */
export function requireFinite(where: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value)) throw new InvalidArgumentError(where, expected(`${name} to be a finite number`, value));
  return value;
}

/** Throws unless `value` is a finite number >= 0. */
export function requireNonNegative(where: string, name: string, value: unknown): number {
  const n = requireFinite(where, name, value);
  if (n < 0) throw new InvalidArgumentError(where, expected(`${name} >= 0`, n));
  return n;
}

/** Throws unless `value` is a non-empty string. */
export function requireString(where: string, name: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0) throw new InvalidArgumentError(where, expected(`${name} to be a non-empty string`, value));
  return value;
}

/** Throws unless `value` is an integer >= 1. */
export function requirePositiveInteger(where: string, name: string, value: unknown, hint?: string): number {
  if (!(typeof value === "number" && Number.isInteger(value) && value > 0)) throw new InvalidArgumentError(where, expected(`${name} to be a positive integer`, value, hint));
  return value;
}

/** Throws unless `value` is an integer >= 0. */
export function requireNonNegativeInteger(where: string, name: string, value: unknown): number {
  if (!(typeof value === "number" && Number.isInteger(value) && value >= 0)) throw new InvalidArgumentError(where, expected(`${name} to be a non-negative integer`, value));
  return value;
}

/** Throws unless `value` is an integer >= min. */
export function requireIntegerAtLeast(where: string, name: string, value: unknown, min: number): number {
  if (!(typeof value === "number" && Number.isInteger(value) && value >= min)) throw new InvalidArgumentError(where, expected(`${name} to be an integer >= ${min}`, value));
  return value;
}

/** Throws unless `value` is an integer in [min, max]. */
export function requireIntegerIn(where: string, name: string, value: unknown, min: number, max: number): number {
  if (!(typeof value === "number" && Number.isInteger(value) && value >= min && value <= max)) {
    throw new InvalidArgumentError(where, expected(`${name} to be an integer in [${min}, ${max}]`, value));
  }
  return value;
}
