// Source Map v3 decoding (https://sourcemaps.info/spec.html): just enough to map a generated line and
// column back to the original, so a cell's tracebacks name the cell's own lines.

/** A v3 source map as JSON. */
export interface RawSourceMap {
  version: number;
  sources: string[];
  mappings: string;
}

/** One mapped segment: generated column -> original line and column (all zero-based). */
interface Segment {
  column: number;
  line: number;
  originalColumn: number;
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** A decoded map answering "where did this generated position come from?". */
export class SourceMap {
  private readonly lines: Segment[][];

  constructor(raw: RawSourceMap) {
    this.lines = decodeMappings(raw.mappings);
  }

  /** Original zero-based position of a generated zero-based position, or undefined when unmapped. */
  originalPosition(line: number, column: number): { line: number; column: number } | undefined {
    const segments = this.lines[line];
    if (!segments || segments.length === 0) return undefined;
    let best = segments[0]!;
    for (const segment of segments) {
      if (segment.column <= column) best = segment;
      else break;
    }
    return { line: best.line, column: best.originalColumn };
  }
}

/** Reads a `//# sourceMappingURL=data:application/json;base64,...` comment's map. */
export function parseInlineMap(url: string): RawSourceMap | undefined {
  const match = /^data:application\/json;(?:charset=[^;]+;)?base64,(.*)$/.exec(url.trim());
  if (!match) return undefined;
  try {
    return JSON.parse(Buffer.from(match[1]!, "base64").toString("utf8")) as RawSourceMap;
  } catch {
    return undefined;
  }
}

/** Removes every inline source map comment from `code`, returning the code and the maps in order. */
export function extractInlineMaps(code: string): { code: string; maps: RawSourceMap[] } {
  const maps: RawSourceMap[] = [];
  const stripped = code.replace(/^\/\/# sourceMappingURL=(\S+)[ \t]*$/gm, (_all, url: string) => {
    const map = parseInlineMap(url);
    if (map) maps.push(map);
    return "";
  });
  return { code: stripped, maps };
}

function decodeMappings(mappings: string): Segment[][] {
  const lines: Segment[][] = [];
  let line = 0;
  let column = 0;
  let sourceLine = 0;
  let sourceColumn = 0;
  let source = 0;
  let names = 0;
  for (const group of mappings.split(";")) {
    const segments: Segment[] = [];
    column = 0;
    for (const chunk of group.split(",")) {
      if (chunk === "") continue;
      const fields = decodeVlq(chunk);
      column += fields[0] ?? 0;
      if (fields.length >= 4) {
        source += fields[1]!;
        sourceLine += fields[2]!;
        sourceColumn += fields[3]!;
        if (fields.length >= 5) names += fields[4]!;
        segments.push({ column, line: sourceLine, originalColumn: sourceColumn });
      }
    }
    segments.sort((a, b) => a.column - b.column);
    lines[line++] = segments;
  }
  void source;
  void names;
  return lines;
}

function decodeVlq(chunk: string): number[] {
  const values: number[] = [];
  let value = 0;
  let shift = 0;
  for (const char of chunk) {
    const digit = BASE64.indexOf(char);
    if (digit < 0) break;
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return values;
}
