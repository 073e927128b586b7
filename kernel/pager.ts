// IPython's pager: a cell that is only `name?` (or `?name`) shows the name's documentation in the pager
// instead of running, and `page(value)` in a cell sends a value there.
import { plainText } from "./display.js";

const PAGER = /^\s*\??\s*([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\s*\?\s*$/;

/** A payload entry of execute_reply that opens the pager. */
export interface PagePayload {
  source: "page";
  data: Record<string, string>;
  start: number;
}

/** The name a `name?` cell asks about, or undefined for any other cell. */
export function pagerQuery(code: string): string | undefined {
  return PAGER.exec(code)?.[1];
}

/** The payload showing a name's documentation (or saying there is none). */
export function documentationPage(name: string, found: boolean, data: Record<string, string>): PagePayload {
  return { source: "page", data: found ? data : { "text/plain": `No documentation found for ${name}.` }, start: 0 };
}

/** The payload showing a value `page()` was given. */
export function valuePage(value: unknown): PagePayload {
  return { source: "page", data: { "text/plain": plainText(value) }, start: 0 };
}
