// The one flag parser every subcommand uses: node's util.parseArgs, plus typed number and choice
// flags checked with lib/validate.ts, so `--r abc`, `--r -1`, `--timeout 0` and `--r 1e300` are all
// refused the same way, with the project's one-line message, before any work starts.
import { parseArgs } from "node:util";
import { InvalidArgumentError, expected } from "../lib/errors.js";
import { requireFinite, requireIntegerAtLeast, requireIntegerIn, requireNonNegativeInteger, requirePositiveInteger } from "../lib/validate.js";

/** One flag: a switch, a string (optionally one of a few choices), an integer or a number with bounds. */
export type FlagSpec =
  | { type: "boolean"; short?: string }
  | { type: "string"; short?: string; choices?: readonly string[]; default?: string }
  | { type: "strings"; short?: string }
  | { type: "integer"; short?: string; min?: number; max?: number; default?: number }
  | { type: "number"; short?: string; min?: number; above?: number; max?: number; default?: number };

type FlagValue<S extends FlagSpec> = S extends { type: "boolean" } ? boolean : S extends { type: "integer" | "number" } ? number : S extends { type: "strings" } ? string[] : string;
type WithDefault<S extends FlagSpec> = S extends { default: string | number } | { type: "strings" } ? never : undefined;

/** Parsed flags: each one's value, undefined when absent and without a default. */
export type Flags<T extends Record<string, FlagSpec>> = { [K in keyof T]: FlagValue<T[K]> | WithDefault<T[K]> };

/** Numbers as people type them: 12, -3, 0.5, .5, 1e-3. Anything else ("", "0x10", "abc") is refused as it is. */
const NUMBER_LITERAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * Parses `argv` against `spec`; `where` names the command in messages ("qlora-lab plan").
 * Returns the typed values and the positional arguments (refused unless `positionals` is true).
 */
export function parseFlags<T extends Record<string, FlagSpec>>(where: string, argv: string[], spec: T, options: { positionals?: boolean } = {}): { values: Flags<T>; positionals: string[] } {
  const parserOptions: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const [name, flag] of Object.entries(spec)) parserOptions[name] = { type: flag.type === "boolean" ? "boolean" : "string", ...(flag.short ? { short: flag.short } : {}), ...(flag.type === "strings" ? { multiple: true } : {}) };
  let parsed: { values: Record<string, string | string[] | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv, spec), options: parserOptions, allowPositionals: options.positionals ?? false, strict: true }) as typeof parsed;
  } catch (error) {
    throw parseError(where, error);
  }
  const values: Record<string, unknown> = {};
  for (const [name, flag] of Object.entries(spec)) {
    const raw = parsed.values[name];
    if (flag.type === "boolean") values[name] = raw === true ? true : undefined;
    else if (flag.type === "strings") values[name] = (raw as string[] | undefined) ?? []; // a repeatable flag: every occurrence, in order
    else if (raw === undefined) values[name] = flag.default;
    else if (flag.type === "string") values[name] = checkChoice(where, name, raw as string, flag.choices);
    else if (flag.type === "integer") values[name] = checkInteger(where, name, raw as string, flag);
    else values[name] = checkNumber(where, name, raw as string, flag);
  }
  return { values: values as Flags<T>, positionals: parsed.positionals };
}

/**
 * parseArgs reads `--r -1` as a flag missing its value ("argument is ambiguous"); a number after a
 * valued flag is its value, so it is joined as `--r=-1` and then checked like any other value.
 */
function joinNegativeValues(argv: string[], spec: Record<string, FlagSpec>): string[] {
  const valued = new Set<string>();
  for (const [name, flag] of Object.entries(spec)) {
    if (flag.type === "boolean") continue;
    valued.add(`--${name}`);
    if (flag.short) valued.add(`-${flag.short}`);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    if (valued.has(arg) && next !== undefined && next.startsWith("-") && NUMBER_LITERAL.test(next)) {
      out.push(arg.startsWith("--") ? `${arg}=${next}` : arg + next);
      i++;
    } else out.push(arg);
  }
  return out;
}

function parseError(where: string, error: unknown): Error {
  const e = error as { code?: string; message?: string };
  if (!e.code?.startsWith("ERR_PARSE_ARGS")) return error as Error;
  const firstLine = (e.message ?? "").split("\n")[0]!;
  if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const option = /'([^']+)'/.exec(firstLine)?.[1] ?? firstLine;
    return new InvalidArgumentError(where, expected("one of the options --help lists", option));
  }
  if (e.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    const arg = /'([^']+)'/.exec(firstLine)?.[1] ?? firstLine;
    return new InvalidArgumentError(where, expected("only options", `the argument ${JSON.stringify(arg)}`, "Run with --help for usage."));
  }
  // A valued flag with nothing after it, or followed by another flag.
  const option = /'(-[^' ]+)/.exec(firstLine)?.[1];
  return new InvalidArgumentError(where, expected(option ? `a value after ${option}` : "valid options", option ? "none" : firstLine, "Run with --help for usage."));
}

function checkChoice(where: string, name: string, raw: string, choices: readonly string[] | undefined): string {
  if (choices && !choices.includes(raw)) throw new InvalidArgumentError(where, expected(`--${name} ${choices.length === 2 ? choices.join(" or ") : `one of ${choices.join(", ")}`}`, raw));
  return raw;
}

/** The number a flag's text spells, or the text itself (so the message shows what was typed). */
function numberOrText(raw: string): number | string {
  return NUMBER_LITERAL.test(raw.trim()) ? Number(raw) : raw;
}

function checkInteger(where: string, name: string, raw: string, flag: { min?: number; max?: number }): number {
  const value = numberOrText(raw);
  const flagName = `--${name}`;
  // Integers beyond 2^53 are not integers any more in a double (99999999999999999999 reads as 1e20).
  if (flag.min === undefined) return requireIntegerIn(where, flagName, value, Number.MIN_SAFE_INTEGER, flag.max ?? Number.MAX_SAFE_INTEGER);
  const n = flag.min === 1 ? requirePositiveInteger(where, flagName, value) : flag.min === 0 ? requireNonNegativeInteger(where, flagName, value) : requireIntegerAtLeast(where, flagName, value, flag.min);
  const max = flag.max ?? Number.MAX_SAFE_INTEGER;
  if (n > max) throw new InvalidArgumentError(where, expected(`${flagName} to be an integer in [${flag.min}, ${max}]`, raw));
  return n;
}

function checkNumber(where: string, name: string, raw: string, flag: { min?: number; above?: number; max?: number }): number {
  const flagName = `--${name}`;
  const low = flag.above !== undefined ? `> ${flag.above}` : flag.min !== undefined ? `>= ${flag.min}` : undefined;
  const range = [low, flag.max !== undefined ? `<= ${flag.max}` : undefined].filter(Boolean).join(" and ");
  const value = numberOrText(raw);
  if (!range) return requireFinite(where, flagName, value);
  const n = typeof value === "number" ? value : NaN;
  const ok = Number.isFinite(n) && (flag.above === undefined || n > flag.above) && (flag.min === undefined || n >= flag.min) && (flag.max === undefined || n <= flag.max);
  if (!ok) throw new InvalidArgumentError(where, expected(`${flagName} to be a number ${range}`, raw));
  return n;
}
