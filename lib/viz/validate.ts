// Input checks at lib/viz's public boundaries, with the project's message form.
import { InvalidArgumentError, expected } from "../errors.js";

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
