// Plain-text loader: one example per line, per paragraph (blank-line separated), or the whole file.
import { FileFormatError, InvalidArgumentError, expected } from "../errors.js";
import type { ExampleSource, LoadedExamples, TextExample } from "./examples.js";
import { pathOf, readDataFile } from "./read_file.js";

/** How a text file is cut into examples. */
export type TextSplit = "line" | "paragraph" | "file";

/** Options for {@link loadText}. */
export interface TextOptions {
  /** Default "paragraph" (a file with no blank lines is then one example per line). */
  split?: TextSplit;
}

/** Reads a .txt file into text examples. */
export function loadText(path: string | URL, options: TextOptions = {}): LoadedExamples {
  const where = "loadText";
  const file = pathOf(path);
  const text = readDataFile(file, where).replace(/\r\n/g, "\n");
  const split = options.split ?? "paragraph";
  if (!["line", "paragraph", "file"].includes(split)) throw new InvalidArgumentError(where, expected('split "line", "paragraph" or "file"', split));
  const examples: TextExample[] = [];
  const sources: ExampleSource[] = [];
  const lines = text.split("\n");
  const hasBlank = lines.some((l, i) => l.trim() === "" && i < lines.length - 1);
  if (split === "file") {
    if (text.trim()) {
      examples.push({ text: text.trim() });
      sources.push({ file, line: 1 });
    }
  } else if (split === "line" || !hasBlank) {
    lines.forEach((l, i) => {
      if (l.trim()) {
        examples.push({ text: l.trim() });
        sources.push({ file, line: i + 1 });
      }
    });
  } else {
    let start = -1;
    const buffer: string[] = [];
    const flush = () => {
      if (buffer.length) {
        examples.push({ text: buffer.join("\n") });
        sources.push({ file, line: start + 1 });
      }
      buffer.length = 0;
    };
    lines.forEach((l, i) => {
      if (l.trim() === "") flush();
      else {
        if (buffer.length === 0) start = i;
        buffer.push(l.trimEnd());
      }
    });
    flush();
  }
  if (examples.length === 0) throw new FileFormatError(where, expected(`some text in ${file}`, "an empty file"));
  return { file, examples, sources };
}
