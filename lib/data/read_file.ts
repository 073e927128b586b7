// Reads a data file as UTF-8 text, turning "missing" and "unreadable" into FileFormatErrors that
// name the path.
import { readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { FileFormatError, expected } from "../errors.js";

/** A path as a string (file: URLs accepted). */
export function pathOf(path: string | URL): string {
  return path instanceof URL ? fileURLToPath(path) : path;
}

/** The file's text; throws FileFormatError naming the file when it is missing or not a file. */
export function readDataFile(path: string | URL, where: string): string {
  const file = pathOf(path);
  let isFile = false;
  try {
    isFile = statSync(file).isFile();
  } catch {
    throw new FileFormatError(where, expected(`a data file at ${file}`, "no such file", "Check the path (relative paths start at the current directory)."));
  }
  if (!isFile) throw new FileFormatError(where, expected(`a data file at ${file}`, "a folder"));
  const bytes = readFileSync(file);
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  const bad = text.indexOf("\uFFFD");
  if (bad >= 0) {
    const line = text.slice(0, bad).split("\n").length;
    throw new FileFormatError(where, expected(`UTF-8 text in ${file}`, `invalid bytes at line ${line}`, "Save the file as UTF-8."));
  }
  return text.startsWith("\uFEFF") ? text.slice(1) : text;
}
