// One palette for every chart: a memory category, a run, a quantization type or a merge method
// keeps its colour and its learner-facing name across all pictures. Colours are Tableau 10.
import { MEMORY_CATEGORIES, type MemoryCategory } from "../memory/types.js";

/** Colour of each memory category (the same in bars, areas and the planner). */
export const MEMORY_CATEGORY_COLORS: Readonly<Record<MemoryCategory, string>> = {
  base_packed: "#4c78a8",
  quant_constants: "#9ecae9",
  base_dense: "#1d3a63",
  base_16bit: "#2f5e8e",
  lora_params: "#f58518",
  gradients: "#e45756",
  optimizer_resident: "#72b7b2",
  optimizer_paged_out: "#c9e6e3",
  activations: "#54a24b",
  temporaries: "#bab0ac",
};

/** What each memory category is called on a chart. */
export const MEMORY_CATEGORY_LABELS: Readonly<Record<MemoryCategory, string>> = {
  base_packed: "base weights, 4-bit codes",
  quant_constants: "quantization constants",
  base_dense: "base weights, float32",
  base_16bit: "base weights, 16-bit",
  lora_params: "LoRA A and B",
  gradients: "gradients",
  optimizer_resident: "optimizer state",
  optimizer_paged_out: "optimizer state, paged out",
  activations: "activations",
  temporaries: "temporaries",
};

/** Colours of well-known run names; other runs take the next free colour of {@link SERIES_COLORS}. */
export const RUN_COLORS: Readonly<Record<string, string>> = {
  LoRA: "#4c78a8",
  QLoRA: "#e45756",
  Full: "#54a24b",
  "Full fine-tuning": "#54a24b",
};

/** Colours of the quantization data types. */
export const QUANT_TYPE_COLORS: Readonly<Record<string, string>> = { nf4: "#4c78a8", fp4: "#f58518", int4: "#54a24b" };

/** Colours of the merge choices in the merged-vs-separate comparison. */
export const MERGE_METHOD_COLORS: Readonly<Record<string, string>> = { separate: "#4c78a8", "merged-fp32": "#54a24b", "merged-4bit": "#e45756", "base, no adapter": "#9d9d9d" };

/** Tableau 10, the order used for series without a fixed colour. */
export const SERIES_COLORS: readonly string[] = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac"];

/** A Vega-Lite scale {domain, range} that gives `names` their fixed colours, the rest free ones. */
export function colorScale(names: readonly string[], fixed: Readonly<Record<string, string>> = {}): { domain: string[]; range: string[] } {
  const domain = [...new Set(names)];
  const used = new Set(domain.map((name) => fixed[name]).filter((c): c is string => c !== undefined));
  const free = SERIES_COLORS.filter((c) => !used.has(c));
  let next = 0;
  const range = domain.map((name) => fixed[name] ?? free[next++ % Math.max(1, free.length)] ?? SERIES_COLORS[0]);
  return { domain, range };
}

/** The Vega-Lite colour scale for the memory categories present in `categories` (in stacking order). */
export function memoryColorScale(categories: Iterable<MemoryCategory>): { domain: string[]; range: string[] } {
  const present = new Set(categories);
  const ordered = MEMORY_CATEGORIES.filter((c) => present.has(c));
  return { domain: ordered.map((c) => MEMORY_CATEGORY_LABELS[c]), range: ordered.map((c) => MEMORY_CATEGORY_COLORS[c]) };
}
