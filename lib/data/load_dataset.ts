// One entry point for a user's data file: picks the loader by extension (.jsonl/.json lines,
// .csv/.tsv, .txt/.md) and returns plain examples.
import { extname } from "node:path";
import { FileFormatError, expected } from "../errors.js";
import { loadCsv, type CsvOptions } from "./csv.js";
import type { LoadedExamples } from "./examples.js";
import { loadJsonl, type JsonlOptions } from "./jsonl.js";
import { pathOf } from "./read_file.js";
import { loadText, type TextOptions } from "./text.js";

/** Options for {@link loadDataset}: those of the loader the extension selects. */
export type LoadDatasetOptions = JsonlOptions & CsvOptions & TextOptions;

/** Loads prompt/response or text examples from a .jsonl, .csv, .tsv or .txt file. */
export function loadDataset(path: string | URL, options: LoadDatasetOptions = {}): LoadedExamples {
  const file = pathOf(path);
  const ext = extname(file).toLowerCase();
  if (ext === ".jsonl" || ext === ".ndjson") return loadJsonl(file, options);
  if (ext === ".csv") return loadCsv(file, options);
  if (ext === ".tsv") return loadCsv(file, { delimiter: "\t", ...options });
  if (ext === ".txt" || ext === ".md" || ext === "") return loadText(file, options);
  throw new FileFormatError("loadDataset", expected("a .jsonl, .csv, .tsv or .txt file", file, "Use loadJsonl/loadCsv/loadText directly for other names."));
}
