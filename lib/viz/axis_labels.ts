// Axis labels that fit their band: long category names wrap onto several lines (Vega draws an array
// of strings as lines) instead of running into their neighbours.
import { chartTextWidth } from "./render.js";

/** `text` split at spaces into lines no wider than `maxWidth` pixels at `fontSize` (a single word may exceed it). */
export function wrapLabel(text: string, maxWidth: number, fontSize: number): string[] {
  const width = (s: string) => chartTextWidth({ fontSize }, s);
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const candidate = line ? `${line} ${word}` : word;
    if (line && width(candidate) > maxWidth) {
      lines.push(line);
      line = word;
    } else line = candidate;
  }
  if (line) lines.push(line);
  return lines.length > 0 ? lines : [text];
}

/**
 * Axis properties that draw each of `labels` wrapped to `maxWidth`: a Vega expression looking the
 * label up in the wrapped lines (nothing when every label fits on one line).
 */
export function wrappedLabelAxis(labels: readonly string[], maxWidth: number, fontSize: number): { labelExpr?: string } {
  const wrapped = labels.map((label) => wrapLabel(label, maxWidth, fontSize));
  if (wrapped.every((lines) => lines.length === 1)) return {};
  return { labelExpr: `${JSON.stringify(wrapped)}[indexof(${JSON.stringify(labels)}, datum.label)]` };
}
