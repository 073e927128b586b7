// Turns bytes-by-category records into long-format chart rows, in stacking order, scaled to one unit.
import { MEMORY_CATEGORIES, type MemoryCategory } from "../memory/types.js";
import { InvalidArgumentError, expected } from "../errors.js";
import { MEMORY_CATEGORY_LABELS } from "./palette.js";

/** One (record, category) row of a stacked memory chart. */
export interface CategoryRow {
  category: MemoryCategory;
  /** Learner-facing category name (the colour legend). */
  name: string;
  /** Stacking order (index in MEMORY_CATEGORIES). */
  order: number;
  bytes: number;
}

/** Rows of `bytesByCategory` in MEMORY_CATEGORIES order, skipping zero and excluded categories; validates values. */
export function categoryRows(where: string, bytesByCategory: Partial<Record<MemoryCategory, number>>, exclude: readonly MemoryCategory[] = []): CategoryRow[] {
  if (typeof bytesByCategory !== "object" || bytesByCategory === null) throw new InvalidArgumentError(where, expected("bytesByCategory to be an object of category -> bytes", bytesByCategory));
  for (const key of Object.keys(bytesByCategory)) {
    if (!(MEMORY_CATEGORIES as readonly string[]).includes(key))
      throw new InvalidArgumentError(where, expected(`a memory category (${MEMORY_CATEGORIES.join(", ")})`, key));
    const value = bytesByCategory[key as MemoryCategory];
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) throw new InvalidArgumentError(where, expected(`bytes of ${key} to be a finite number >= 0`, value));
  }
  const rows: CategoryRow[] = [];
  MEMORY_CATEGORIES.forEach((category, order) => {
    const bytes = bytesByCategory[category] ?? 0;
    if (bytes > 0 && !exclude.includes(category)) rows.push({ category, name: MEMORY_CATEGORY_LABELS[category], order, bytes });
  });
  return rows;
}

/** Sum of the categories' bytes, optionally without some. */
export function totalBytes(bytesByCategory: Partial<Record<MemoryCategory, number>>, exclude: readonly MemoryCategory[] = []): number {
  let total = 0;
  for (const category of MEMORY_CATEGORIES) if (!exclude.includes(category)) total += bytesByCategory[category] ?? 0;
  return total;
}

/** Categories that live off the device (not counted against a GPU budget). */
export const HOST_CATEGORIES: readonly MemoryCategory[] = ["optimizer_paged_out"];
