// Column and key names the loaders read, and the one check that turns a record into an Example.
import { FileFormatError, expected } from "../errors.js";
import type { Example } from "./examples.js";

/** Which keys (JSONL) or columns (CSV) hold the text. Defaults: prompt, response, text. */
export interface FieldNames {
  promptField?: string;
  responseField?: string;
  textField?: string;
}

/** Builds an Example from one record, or throws an error naming `file` and `line`. */
export function recordToExample(record: Record<string, unknown>, fields: FieldNames, where: string, file: string, line: number): Example {
  const promptKey = fields.promptField ?? "prompt";
  const responseKey = fields.responseField ?? "response";
  const textKey = fields.textField ?? "text";
  const at = `${file}:${line}`;
  const prompt = record[promptKey];
  const response = record[responseKey];
  if (prompt !== undefined || response !== undefined) {
    if (typeof prompt !== "string" || typeof response !== "string") {
      throw new FileFormatError(where, expected(`string fields "${promptKey}" and "${responseKey}" at ${at}`, `${promptKey}=${describe(prompt)}, ${responseKey}=${describe(response)}`, "Each record needs both, or a text field."));
    }
    if (response.length === 0) throw new FileFormatError(where, expected(`a non-empty "${responseKey}" at ${at}`, '""'));
    return { prompt, response };
  }
  const text = record[textKey];
  if (typeof text !== "string") {
    const keys = Object.keys(record);
    throw new FileFormatError(where, expected(`a "${promptKey}"/"${responseKey}" pair or a "${textKey}" string at ${at}`, keys.length ? `keys ${keys.map((k) => JSON.stringify(k)).join(", ")}` : "an empty record", 'Rename the fields or pass promptField/responseField/textField.'));
  }
  if (text.length === 0) throw new FileFormatError(where, expected(`a non-empty "${textKey}" at ${at}`, '""'));
  return { text };
}

function describe(value: unknown): string {
  if (value === undefined) return "missing";
  if (typeof value === "string") return "a string";
  return value === null ? "null" : typeof value;
}
