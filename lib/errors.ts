// Every error qlora-lab throws, and the one place their messages are built.
// Message form: "<where>: expected <what>, got <actual>. <hint>"

/** Base class of all qlora-lab errors; `where` names the function or file that refused. */
export class QloraLabError extends Error {
  override name = "QloraLabError";
  constructor(
    readonly where: string,
    message: string,
  ) {
    super(`${where}: ${message}`);
  }
}

/** An argument or configuration value is outside what the function accepts. */
export class InvalidArgumentError extends QloraLabError {
  override name = "InvalidArgumentError";
}

/** A tensor's shape, dtype or values (NaN, Inf) are not what the operation needs. */
export class TensorError extends QloraLabError {
  override name = "TensorError";
}

/** A file is missing, truncated, or not in the expected format. */
export class FileFormatError extends QloraLabError {
  override name = "FileFormatError";
}

/** A requested feature or backend is not available in this environment. */
export class UnavailableError extends QloraLabError {
  override name = "UnavailableError";
}

/** A run would need more memory than it may use (its budget, or the WebAssembly heap's 4 GiB); refused before it allocates. */
export class MemoryLimitError extends QloraLabError {
  override name = "MemoryLimitError";
}

/** Formats "expected X, got Y. hint" so every message reads the same way. */
export function expected(what: string, got: unknown, hint?: string): string {
  const shown = typeof got === "string" ? got : describeValue(got);
  return `expected ${what}, got ${shown}.${hint ? ` ${hint}` : ""}`;
}

/** A short, printable description of any value, for error messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (Array.isArray(value)) return value.length > 8 ? `[${value.slice(0, 8).map(describeValue).join(", ")}, ... (${value.length})]` : `[${value.map(describeValue).join(", ")}]`;
  try {
    const json = JSON.stringify(value);
    return json.length > 120 ? `${json.slice(0, 117)}...` : json;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
