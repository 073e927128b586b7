// The session's input history for history_request (tail, range, search with glob patterns, unique, n),
// as IPython's history manager answers it: [session, line, input] or [session, line, [input, output]].

/** One stored cell. */
export interface HistoryEntry {
  line: number;
  input: string;
  output: string | null;
}

/** A history_request's options. */
export interface HistoryQuery {
  hist_access_type: "tail" | "range" | "search";
  output?: boolean;
  n?: number;
  session?: number;
  start?: number;
  stop?: number;
  pattern?: string;
  unique?: boolean;
}

/** History items as they go on the wire. */
export type HistoryItem = [number, number, string | [string, string | null]];

/** In-memory history of this kernel session (session number 1; 0 and negatives mean "this one"). */
export class History {
  private readonly entries: HistoryEntry[] = [];
  readonly session = 1;

  /** Records a cell run with store_history. */
  add(entry: HistoryEntry): void {
    this.entries.push(entry);
  }

  /** Answers a query. */
  query(q: HistoryQuery): HistoryItem[] {
    const pick = (entries: HistoryEntry[]): HistoryItem[] => entries.map((e) => [this.session, e.line, q.output ? [e.input, e.output] : e.input]);
    if (q.hist_access_type === "tail") return pick(q.n === undefined ? this.entries : this.entries.slice(-Math.max(0, q.n)));
    if (q.hist_access_type === "range") {
      if (q.session !== undefined && q.session > 0 && q.session !== this.session) return [];
      const start = q.start ?? 0;
      const stop = q.stop ?? Number.POSITIVE_INFINITY;
      return pick(this.entries.filter((e) => e.line >= start && e.line < stop));
    }
    const regex = globToRegExp(q.pattern ?? "*");
    let found = this.entries.filter((e) => regex.test(e.input));
    if (q.unique) {
      const seen = new Set<string>();
      found = found.reverse().filter((e) => (seen.has(e.input) ? false : (seen.add(e.input), true))).reverse();
    }
    if (q.n !== undefined && q.n !== null) found = found.slice(-Math.max(0, q.n));
    return pick(found);
  }
}

/** SQLite GLOB semantics as IPython uses them: `*`, `?`, `[...]`, whole-string match. */
export function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") source += "[\\s\\S]*";
    else if (c === "?") source += "[\\s\\S]";
    else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close < 0) source += "\\[";
      else {
        const body = glob.slice(i + 1, close);
        source += `[${body.startsWith("^") ? `^${body.slice(1)}` : body.replace(/\\/g, "\\\\")}]`;
        i = close;
      }
    } else source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}
