// Where and how AdamW keeps its moments: a discriminated union (resident, paged, 8-bit, paged 8-bit)
// and its validator, so a bad setting fails at construction with a message that says how to fix it.
import { InvalidArgumentError, expected, describeValue } from "../errors.js";
import { requireNonNegativeInteger } from "../validate.js";

/** Options shared by the paged forms. */
export interface PagedStateOptions {
  /** Bytes of optimizer state allowed to stay resident as backend tensors; the rest is paged out. */
  budgetBytes: number;
  /** Bytes of one page (all slots of a run of elements); default 1 MiB. */
  pageBytes?: number;
  /** Folder for a spill file: paged-out pages live on disk instead of host memory. */
  spillDir?: string;
  /** Bring the next page in after acquiring the current one (default true). */
  prefetch?: boolean;
}

/** Options shared by the 8-bit forms (bitsandbytes' defaults). */
export interface Blockwise8bitOptions {
  /** Parameters with fewer elements keep 32-bit state (bitsandbytes: 4096). */
  minElements?: number;
}

/** How AdamW holds m and v. */
export type OptimizerStateOption =
  | { kind: "resident" }
  | ({ kind: "paged" } & PagedStateOptions)
  | ({ kind: "8bit" } & Blockwise8bitOptions)
  | ({ kind: "paged-8bit" } & PagedStateOptions & Blockwise8bitOptions);

/** The state kinds, for messages and menus. */
export const OPTIMIZER_STATE_KINDS = ["resident", "paged", "8bit", "paged-8bit"] as const;

/** Default page size in bytes. */
export const DEFAULT_PAGE_BYTES = 1 << 20;

/** bitsandbytes' threshold below which 8-bit optimizers keep 32-bit state. */
export const DEFAULT_8BIT_MIN_ELEMENTS = 4096;

/** A validated state option with every default filled in. */
export type ResolvedStateOption =
  | { kind: "resident" }
  | { kind: "paged"; budgetBytes: number; pageBytes: number; spillDir?: string; prefetch: boolean }
  | { kind: "8bit"; minElements: number }
  | { kind: "paged-8bit"; budgetBytes: number; pageBytes: number; spillDir?: string; prefetch: boolean; minElements: number };

/** Checks a state option (or the shorthand "resident" / "8bit") and fills defaults. */
export function resolveStateOption(option: OptimizerStateOption | "resident" | "8bit" | undefined, where = "AdamW"): ResolvedStateOption {
  if (option === undefined || option === "resident") return { kind: "resident" };
  if (option === "8bit") return { kind: "8bit", minElements: DEFAULT_8BIT_MIN_ELEMENTS };
  if (typeof option !== "object" || option === null || !OPTIMIZER_STATE_KINDS.includes((option as { kind: never }).kind)) {
    const hint = 'Use { kind: "resident" }, { kind: "paged", budgetBytes }, { kind: "8bit" } or { kind: "paged-8bit", budgetBytes }.';
    throw new InvalidArgumentError(where, expected(`state.kind to be one of ${OPTIMIZER_STATE_KINDS.map((k) => `"${k}"`).join(", ")}`, describeValue(option), hint));
  }
  const minElements = (o: Blockwise8bitOptions) => {
    return requireNonNegativeInteger(where, "state.minElements", o.minElements ?? DEFAULT_8BIT_MIN_ELEMENTS);
  };
  const paged = (o: PagedStateOptions) => {
    const budget = o.budgetBytes;
    if (!(typeof budget === "number" && Number.isFinite(budget) && budget >= 0)) {
      throw new InvalidArgumentError(where, expected("state.budgetBytes to be a non-negative number of bytes", budget, "Give the device budget for optimizer state, e.g. 0.25 * the state's size."));
    }
    const pageBytes = o.pageBytes ?? DEFAULT_PAGE_BYTES;
    if (!(Number.isInteger(pageBytes) && pageBytes >= 64)) {
      throw new InvalidArgumentError(where, expected("state.pageBytes to be an integer >= 64", pageBytes));
    }
    if (budget < pageBytes) {
      throw new InvalidArgumentError(where, expected(`state.budgetBytes to hold at least one page (${pageBytes} bytes)`, budget, "Raise budgetBytes or lower pageBytes."));
    }
    if (o.spillDir !== undefined && (typeof o.spillDir !== "string" || o.spillDir === "")) {
      throw new InvalidArgumentError(where, expected("state.spillDir to be a folder path", o.spillDir));
    }
    return { budgetBytes: budget, pageBytes, spillDir: o.spillDir, prefetch: o.prefetch ?? true };
  };
  switch (option.kind) {
    case "resident":
      return { kind: "resident" };
    case "paged":
      return { kind: "paged", ...paged(option) };
    case "8bit":
      return { kind: "8bit", minElements: minElements(option) };
    case "paged-8bit":
      return { kind: "paged-8bit", ...paged(option), minElements: minElements(option) };
  }
}
