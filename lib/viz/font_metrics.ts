// Advance widths read from a TrueType font's cmap/hmtx tables, so Vega lays text out with the
// widths of the font the PNG is drawn with. Reference: OpenType spec, tables head, hhea, hmtx, cmap.
import { readFileSync } from "node:fs";
import { FileFormatError, expected } from "../errors.js";

/** Measures strings with one font's advance widths (no kerning). */
export interface FontMetrics {
  /** Width in pixels of `text` at `fontSize` pixels. */
  measure(text: string, fontSize: number): number;
}

interface TableRecord {
  offset: number;
  length: number;
}

/** Parses the tables a width measurement needs from the TrueType file at `path`. */
export function loadFontMetrics(path: string): FontMetrics {
  const bytes = readFileSync(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const numTables = view.getUint16(4);
  const tables = new Map<string, TableRecord>();
  for (let i = 0; i < numTables; i++) {
    const at = 12 + i * 16;
    const tag = String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
    tables.set(tag, { offset: view.getUint32(at + 8), length: view.getUint32(at + 12) });
  }
  const need = (tag: string): TableRecord => {
    const table = tables.get(tag);
    if (!table) throw new FileFormatError("loadFontMetrics", expected(`a TrueType font with a '${tag}' table`, path));
    return table;
  };
  const unitsPerEm = view.getUint16(need("head").offset + 18);
  const numberOfHMetrics = view.getUint16(need("hhea").offset + 34);
  const hmtx = need("hmtx").offset;
  const advanceOfGlyph = (glyph: number): number => view.getUint16(hmtx + 4 * Math.min(glyph, numberOfHMetrics - 1));
  const glyphOf = readCmap(view, need("cmap").offset, path);
  const fallback = advanceOfGlyph(0);
  const cache = new Map<number, number>();
  const advance = (codePoint: number): number => {
    let width = cache.get(codePoint);
    if (width === undefined) {
      const glyph = glyphOf(codePoint);
      width = glyph === 0 ? fallback : advanceOfGlyph(glyph);
      cache.set(codePoint, width);
    }
    return width;
  };
  return {
    measure(text: string, fontSize: number): number {
      let units = 0;
      for (const char of text) units += advance(char.codePointAt(0) ?? 0);
      return (units * fontSize) / unitsPerEm;
    },
  };
}

/** Returns codePoint -> glyph id from the best Unicode subtable (format 12, else format 4). */
function readCmap(view: DataView, cmap: number, path: string): (codePoint: number) => number {
  const count = view.getUint16(cmap + 2);
  let format4 = -1;
  let format12 = -1;
  for (let i = 0; i < count; i++) {
    const platform = view.getUint16(cmap + 4 + i * 8);
    const encoding = view.getUint16(cmap + 6 + i * 8);
    const sub = cmap + view.getUint32(cmap + 8 + i * 8);
    const format = view.getUint16(sub);
    const unicode = platform === 0 || (platform === 3 && (encoding === 1 || encoding === 10));
    if (!unicode) continue;
    if (format === 12 && format12 < 0) format12 = sub;
    if (format === 4 && format4 < 0) format4 = sub;
  }
  if (format12 >= 0) {
    const groups = view.getUint32(format12 + 12);
    return (codePoint) => {
      let lo = 0;
      let hi = groups - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const at = format12 + 16 + mid * 12;
        const start = view.getUint32(at);
        const end = view.getUint32(at + 4);
        if (codePoint < start) hi = mid - 1;
        else if (codePoint > end) lo = mid + 1;
        else return view.getUint32(at + 8) + (codePoint - start);
      }
      return 0;
    };
  }
  if (format4 >= 0) {
    const segCount = view.getUint16(format4 + 6) / 2;
    const ends = format4 + 14;
    const starts = ends + 2 * segCount + 2;
    const deltas = starts + 2 * segCount;
    const rangeOffsets = deltas + 2 * segCount;
    return (codePoint) => {
      if (codePoint > 0xffff) return 0;
      for (let s = 0; s < segCount; s++) {
        if (codePoint > view.getUint16(ends + 2 * s)) continue;
        const start = view.getUint16(starts + 2 * s);
        if (codePoint < start) return 0;
        const delta = view.getInt16(deltas + 2 * s);
        const rangeOffset = view.getUint16(rangeOffsets + 2 * s);
        if (rangeOffset === 0) return (codePoint + delta) & 0xffff;
        const glyph = view.getUint16(rangeOffsets + 2 * s + rangeOffset + 2 * (codePoint - start));
        return glyph === 0 ? 0 : (glyph + delta) & 0xffff;
      }
      return 0;
    };
  }
  throw new FileFormatError("loadFontMetrics", expected("a Unicode cmap subtable (format 4 or 12)", path));
}
