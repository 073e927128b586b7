// CSV loader through arquero (header row; prompt/response or text columns; RFC 4180 quoting, so a
// cell may span lines). Errors name the file and the line the offending record starts on.
import { fromCSV } from "arquero";
import { FileFormatError, expected } from "../errors.js";
import type { Example, ExampleSource, LoadedExamples } from "./examples.js";
import { recordToExample, type FieldNames } from "./field_names.js";
import { pathOf, readDataFile } from "./read_file.js";

/** Options for {@link loadCsv}. */
export interface CsvOptions extends FieldNames {
  /** Single-character delimiter; default ",". */
  delimiter?: string;
}

/** Reads a .csv (or .tsv with delimiter "\t") file with a header row. */
export function loadCsv(path: string | URL, options: CsvOptions = {}): LoadedExamples {
  const where = "loadCsv";
  const file = pathOf(path);
  const text = readDataFile(file, where);
  const starts = recordStartLines(text);
  if (starts.length < 2) throw new FileFormatError(where, expected(`a header row and at least one data row in ${file}`, starts.length === 0 ? "an empty file" : "only a header row"));
  const quotes = (text.match(/"/g) ?? []).length;
  if (quotes % 2 === 1) {
    throw new FileFormatError(where, expected(`balanced double quotes in ${file}`, `an unclosed quote starting at line ${unclosedQuoteLine(text)}`));
  }
  const table = fromCSV(text, { delimiter: options.delimiter ?? ",", autoType: false });
  const columns = table.columnNames();
  const wanted = [options.promptField ?? "prompt", options.responseField ?? "response", options.textField ?? "text"];
  if (!wanted.some((c) => columns.includes(c))) {
    throw new FileFormatError(where, expected(`a header with "${wanted[0]}" and "${wanted[1]}" columns, or a "${wanted[2]}" column, at ${file}:1`, columns.map((c) => JSON.stringify(c)).join(", "), "Rename the columns or pass promptField/responseField/textField."));
  }
  const examples: Example[] = [];
  const sources: ExampleSource[] = [];
  const rows = table.objects() as Array<Record<string, unknown>>;
  rows.forEach((row, i) => {
    const line = starts[i + 1] ?? starts[starts.length - 1]!;
    const record: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(row)) if (value !== undefined && value !== null && value !== "") record[key] = value;
    const fieldCount = Object.values(row).filter((v) => v !== undefined).length;
    if (fieldCount < columns.length) {
      throw new FileFormatError(where, expected(`${columns.length} fields at ${file}:${line}`, `${fieldCount}`, "A row is missing a delimiter or the file was cut short."));
    }
    examples.push(recordToExample(record, options, where, file, line));
    sources.push({ file, line });
  });
  return { file, examples, sources };
}

/** 1-based line numbers where each non-empty CSV record starts (quoted newlines do not end a record). */
function recordStartLines(text: string): number[] {
  const starts: number[] = [];
  let line = 1;
  let inQuotes = false;
  let recordStart = 1;
  let empty = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') inQuotes = !inQuotes;
    if (c === "\n") {
      if (!inQuotes) {
        if (!empty) starts.push(recordStart);
        recordStart = line + 1;
        empty = true;
      }
      line++;
    } else if (c !== "\r") empty = false;
  }
  if (!empty) starts.push(recordStart);
  return starts;
}

function unclosedQuoteLine(text: string): number {
  let open = -1;
  for (let i = 0; i < text.length; i++) if (text[i] === '"') open = open < 0 ? i : -1;
  return text.slice(0, Math.max(0, open)).split("\n").length;
}
