// Pre-tokenized rows in JSON Lines, as Hugging Face datasets hold them after tokenization:
// {"input_ids": [...], "labels": [...]} with labels optional and -100 where a position does not count.
import { FileFormatError, expected } from "../errors.js";
import type { ExampleSource } from "./examples.js";
import { pathOf, readDataFile } from "./read_file.js";

/** One pre-tokenized row: token ids and, optionally, a label per position (-100: not counted). */
export interface TokenizedRow {
  inputIds: number[];
  labels?: number[];
}

/** Rows read from a file, with the line each came from. */
export interface LoadedTokenizedRows {
  file: string;
  rows: TokenizedRow[];
  sources: ExampleSource[];
}

/** Whether the first record of a JSON Lines text has an `input_ids` key (pre-tokenized rows). */
export function looksTokenized(text: string): boolean {
  const first = text.split("\n").find((l) => l.trim() !== "");
  if (first === undefined) return false;
  try {
    const record = JSON.parse(first) as unknown;
    return typeof record === "object" && record !== null && "input_ids" in record;
  } catch {
    return false;
  }
}

/** Reads a .jsonl file of {input_ids, labels?} rows; every id must be an integer in [0, vocabSize) when vocabSize is given. */
export function loadTokenizedJsonl(path: string | URL, options: { vocabSize?: number } = {}): LoadedTokenizedRows {
  const where = "loadTokenizedJsonl";
  const file = pathOf(path);
  const lines = readDataFile(file, where).split("\n");
  const rows: TokenizedRow[] = [];
  const sources: ExampleSource[] = [];
  const vocab = options.vocabSize ?? Number.MAX_SAFE_INTEGER;
  const isId = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) < vocab;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, "");
    if (raw.trim() === "") continue;
    const at = `${file}:${i + 1}`;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(raw) as Record<string, unknown>;
    } catch (error) {
      throw new FileFormatError(where, expected(`one JSON object per line in ${at}`, (error as Error).message));
    }
    const ids = record?.input_ids;
    const idRange = options.vocabSize ? `integers in [0, ${vocab})` : "integers >= 0";
    if (!Array.isArray(ids) || ids.length < 2 || !ids.every(isId)) {
      throw new FileFormatError(where, expected(`"input_ids" of at least 2 ${idRange} at ${at}`, Array.isArray(ids) ? `[${ids.slice(0, 6).join(", ")}${ids.length > 6 ? ", ..." : ""}] (${ids.length})` : String(ids)));
    }
    const labels = record.labels;
    if (labels !== undefined && labels !== null) {
      if (!Array.isArray(labels) || labels.length !== ids.length || !labels.every((l) => l === -100 || isId(l))) {
        const badAt = Array.isArray(labels) ? labels.findIndex((l) => !(l === -100 || isId(l))) : -1;
        const found = !Array.isArray(labels) ? String(labels) : labels.length !== ids.length ? `${labels.length} labels` : `${JSON.stringify(labels[badAt])} at position ${badAt}`;
        throw new FileFormatError(where, expected(`"labels" as long as "input_ids" (${ids.length}), each -100 or one of the ${idRange}, at ${at}`, found));
      }
      rows.push({ inputIds: ids, labels });
    } else rows.push({ inputIds: ids });
    sources.push({ file, line: i + 1 });
  }
  if (rows.length === 0) throw new FileFormatError(where, expected(`at least one row in ${file}`, "an empty file"));
  return { file, rows, sources };
}
