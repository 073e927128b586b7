// Tables for notebooks through arquero: text/html (column names escaped here, since arquero's
// toHTML escapes cells but not headers) and text/plain as a Markdown table.
import * as aq from "arquero";
import { InvalidArgumentError, expected } from "../errors.js";
import { requirePositiveInteger } from "../validate.js";
import { formatNumber } from "../format.js";
import { JUPYTER_DISPLAY, type DisplayBundle, type Displayable } from "./display.js";

/** Options of {@link table}. */
export interface TableOptions {
  /** Columns to show, in order. Default: the keys of the rows, in order of first appearance. */
  columns?: readonly string[];
  /** Most rows shown. Default 50. */
  limit?: number;
  /** Per-column formatter of a cell value to text (the HTML output escapes it). */
  format?: Readonly<Record<string, (value: unknown) => string>>;
  /** Significant digits of non-integer numbers without a formatter. Default 4. */
  digits?: number;
  /** Caption shown above the table. */
  caption?: string;
}

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** A table of plain rows that renders as HTML in notebooks and as Markdown in terminals. */
export class Table implements Displayable {
  readonly #table: ReturnType<typeof aq.from>;
  readonly #columns: string[];
  readonly #options: TableOptions;

  constructor(
    /** The rows as given. */
    readonly rows: readonly Record<string, unknown>[],
    options: TableOptions = {},
  ) {
    if (!Array.isArray(rows)) throw new InvalidArgumentError("table", expected("an array of row objects", rows));
    for (const row of rows) if (typeof row !== "object" || row === null || Array.isArray(row)) throw new InvalidArgumentError("table", expected("every row to be a plain object", row));
    const limit = options.limit ?? 50;
    requirePositiveInteger("table", "limit", limit);
    const keys = options.columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
    this.#columns = [...keys];
    // Column names become positional ids so arquero never sees (or prints) them raw.
    const ids = this.#columns.map((_, i) => `c${i}`);
    const data: Record<string, unknown[]> = {};
    ids.forEach((id, i) => (data[id] = rows.map((r) => r[this.#columns[i]] ?? null)));
    this.#table = aq.table(data);
    this.#options = { ...options, limit };
  }

  /** Column names, in display order. */
  get columns(): string[] {
    return [...this.#columns];
  }

  #formats(): Record<string, (value: unknown) => string> {
    const digits = this.#options.digits ?? 4;
    const out: Record<string, (value: unknown) => string> = {};
    this.#columns.forEach((name, i) => {
      const custom = this.#options.format?.[name];
      out[`c${i}`] = (value: unknown) => {
        if (custom) return custom(value);
        if (value === null || value === undefined) return "";
        if (typeof value === "number") return Number.isInteger(value) ? value.toLocaleString("en-US") : formatNumber(value, digits);
        return typeof value === "object" ? JSON.stringify(value) : String(value);
      };
    });
    return out;
  }

  /** The table as an HTML string (headers and cells escaped). */
  toHTML(): string {
    const html = this.#table.toHTML({ limit: this.#options.limit, format: this.#formats() as never });
    // arquero writes the positional ids as headers; put the escaped real names in their place.
    const named = html.replace(/(<th[^>]*>)c(\d+)<\/th>/g, (_, open: string, i: string) => `${open}${escapeHtml(this.#columns[Number(i)])}</th>`);
    const more = this.rows.length > (this.#options.limit ?? 50) ? `<p><em>${this.#options.limit} of ${this.rows.length} rows</em></p>` : "";
    const caption = this.#options.caption ? `<p><strong>${escapeHtml(this.#options.caption)}</strong></p>` : "";
    return `${caption}${named}${more}`;
  }

  /** The table as GitHub-flavoured Markdown. */
  toMarkdown(): string {
    const md = this.#table.toMarkdown({ limit: this.#options.limit, format: this.#formats() as never });
    const lines = md.split("\n");
    lines[0] = `|${this.#columns.map((c) => c.replace(/\|/g, "\\|").replace(/\n/g, " ")).join("|")}|`;
    const more = this.rows.length > (this.#options.limit ?? 50) ? `(${this.#options.limit} of ${this.rows.length} rows)\n` : "";
    return `${this.#options.caption ? `${this.#options.caption}\n\n` : ""}${lines.join("\n")}${more}`;
  }

  [JUPYTER_DISPLAY](): DisplayBundle {
    return { data: { "text/html": this.toHTML(), "text/plain": this.toMarkdown() }, metadata: {} };
  }

  toString(): string {
    return this.toMarkdown();
  }
}

/** A displayable table of plain rows (arquero underneath): `table(rows, { limit: 20 })`. */
export function table(rows: readonly Record<string, unknown>[], options: TableOptions = {}): Table {
  return new Table(rows, options);
}
