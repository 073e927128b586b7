// JSON Lines loader: one object per line with prompt/response (or text) fields; blank lines are
// skipped; any other defect is reported with its file and line (JSON Lines spec, jsonlines.org).
import { FileFormatError, expected } from "../errors.js";
import type { ExampleSource, LoadedExamples } from "./examples.js";
import { recordToExample, type FieldNames } from "./field_names.js";
import { pathOf, readDataFile } from "./read_file.js";

/** Options for {@link loadJsonl}. */
export type JsonlOptions = FieldNames;

/** Reads a .jsonl file of {prompt, response} or {text} objects. */
export function loadJsonl(path: string | URL, options: JsonlOptions = {}): LoadedExamples {
  const where = "loadJsonl";
  const file = pathOf(path);
  return parseJsonl(readDataFile(file, where), file, options);
}

/** Parses JSON Lines text; `file` names the source in error messages. */
export function parseJsonl(text: string, file: string, options: JsonlOptions = {}): LoadedExamples {
  const where = "loadJsonl";
  const lines = text.split("\n");
  const examples = [];
  const sources: ExampleSource[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, "");
    if (raw.trim() === "") continue;
    const line = i + 1;
    let record: unknown;
    try {
      record = JSON.parse(raw);
    } catch (error) {
      const detail = (error as Error).message.replace(/^JSON\.parse: /, "");
      throw new FileFormatError(where, expected(`one JSON object per line in ${file}:${line}`, `${JSON.stringify(raw.length > 60 ? `${raw.slice(0, 57)}...` : raw)} (${detail})`, "Each line must be a complete JSON object; a truncated file often ends mid-line."));
    }
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      throw new FileFormatError(where, expected(`a JSON object at ${file}:${line}`, Array.isArray(record) ? "an array" : String(record)));
    }
    examples.push(recordToExample(record as Record<string, unknown>, options, where, file, line));
    sources.push({ file, line });
  }
  if (examples.length === 0) throw new FileFormatError(where, expected(`at least one example in ${file}`, "an empty file"));
  return { file, examples, sources };
}
