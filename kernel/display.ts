// How values look in a notebook: the MIME bundle of an execute_result or display_data (Deno's
// Symbol.for("Jupyter.display") convention, tensors with shape/dtype/preview, plain text for the rest),
// and the display API cells call: display(x) with in-place updates, html/markdown/svg/png/json/vegalite.
import { randomUUID } from "node:crypto";
import { inspect } from "node:util";
import { JUPYTER_DISPLAY, isDisplayable, toDisplayBundle, type DisplayBundle, type DisplayHandle, type MimeBundle } from "../lib/viz/display.js";
import type { CellContext } from "./cell_context.js";

/** Text for text/plain: util.inspect without colour, strings shown as they are by display(). */
export function plainText(value: unknown, options: { quoteStrings?: boolean } = {}): string {
  if (typeof value === "string" && !options.quoteStrings) return value;
  return inspect(value, { colors: false, depth: 4, maxArrayLength: 100, maxStringLength: 10_000, breakLength: 100 });
}

/** True for a TF.js tensor (duck-typed, so any copy of tfjs-core qualifies). */
export function isTensor(value: unknown): value is { shape: number[]; dtype: string; size: number; isDisposed: boolean; toString(verbose?: boolean): string } {
  return typeof value === "object" && value !== null && Array.isArray((value as { shape?: unknown }).shape) && typeof (value as { dtype?: unknown }).dtype === "string" && typeof (value as { dataSync?: unknown }).dataSync === "function";
}

/** The bundle of a value: its own rendering when Displayable, a tensor summary, or plain text. */
export function formatValue(value: unknown, options: { quoteStrings?: boolean } = {}): DisplayBundle {
  if (isDisplayable(value)) {
    let bundle: DisplayBundle;
    try {
      bundle = toDisplayBundle(value[JUPYTER_DISPLAY]());
    } catch (error) {
      return { data: { "text/plain": `${plainText(value, options)}\n(rendering failed: ${(error as Error).message})` }, metadata: {} };
    }
    const data: MimeBundle = { ...bundle.data };
    if (typeof data["text/plain"] !== "string") data["text/plain"] = summary(value);
    return { data, metadata: bundle.metadata ?? {} };
  }
  if (isTensor(value)) return tensorBundle(value);
  return { data: { "text/plain": plainText(value, options) }, metadata: {} };
}

/** Shape, dtype and a preview of the values (TF.js elides the middle of large tensors). */
export function tensorBundle(tensor: { shape: number[]; dtype: string; size: number; isDisposed: boolean; toString(verbose?: boolean): string }): DisplayBundle {
  const head = `Tensor ${tensor.dtype} [${tensor.shape.join(", ")}]`;
  if (tensor.isDisposed) return { data: { "text/plain": `${head} (disposed)` }, metadata: {} };
  let preview: string;
  try {
    preview = tensor.toString().replace(/^Tensor\s*\n?/, "").replace(/^\s{4}/gm, "");
  } catch (error) {
    preview = `(values unavailable: ${(error as Error).message})`;
  }
  const html = `<div><code>${escapeHtml(head)}</code><pre>${escapeHtml(preview)}</pre></div>`;
  return { data: { "text/plain": `${head}\n${preview}`, "text/html": html }, metadata: {} };
}

const HANDLE = Symbol.for("qlora-lab.kernel.display-handle");

/** True for a handle returned by display(): a cell ending in display(x) shows x once, not the handle too. */
export function isDisplayHandle(value: unknown): boolean {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[HANDLE] === true;
}

/** Options of {@link DisplayApi}'s functions. */
export interface DisplayOptions {
  /** Reuse an id to replace an earlier output instead of adding one. */
  displayId?: string;
  /** Per-MIME metadata, e.g. { "image/png": { width, height } }. */
  metadata?: Record<string, unknown>;
}

/** `display` as cells see it: a function with helpers for common MIME types. */
export interface DisplayApi {
  /** Shows a value below the cell and returns a handle that replaces it in place. */
  (value: unknown, options?: DisplayOptions): DisplayHandle;
  /** Shows HTML. */
  html(html: string, options?: DisplayOptions): DisplayHandle;
  /** Shows Markdown. */
  markdown(markdown: string, options?: DisplayOptions): DisplayHandle;
  /** Shows an SVG document. */
  svg(svg: string, options?: DisplayOptions): DisplayHandle;
  /** Shows a PNG (bytes or base64). */
  png(png: Uint8Array | string, options?: DisplayOptions & { width?: number; height?: number }): DisplayHandle;
  /** Shows JSON as an expandable tree (front ends that support application/json). */
  json(value: unknown, options?: DisplayOptions): DisplayHandle;
  /** Shows a Vega-Lite v5 spec (rendered by JupyterLab, VS Code). */
  vegalite(spec: Record<string, unknown>, options?: DisplayOptions): DisplayHandle;
  /** Shows a raw MIME bundle. */
  bundle(data: MimeBundle, options?: DisplayOptions): DisplayHandle;
}

/** Builds the display API; `context` says which cell is running when a function is called. */
export function createDisplayApi(context: () => CellContext | undefined): DisplayApi {
  const show = (bundle: DisplayBundle, options: DisplayOptions = {}): DisplayHandle => {
    const displayId = options.displayId ?? randomUUID();
    const send = (msgType: "display_data" | "update_display_data", b: DisplayBundle) =>
      context()?.publish(msgType, { data: b.data, metadata: { ...(b.metadata ?? {}), ...(options.metadata ?? {}) }, transient: { display_id: displayId } });
    send("display_data", bundle);
    const handle: DisplayHandle & { [HANDLE]: true } = {
      [HANDLE]: true,
      displayId,
      update(value: unknown) {
        send("update_display_data", formatValue(value));
      },
    };
    return handle;
  };
  const display = ((value: unknown, options?: DisplayOptions) => show(formatValue(value), options)) as DisplayApi;
  display.html = (html, options) => show({ data: { "text/html": html, "text/plain": stripTags(html) } }, options);
  display.markdown = (markdown, options) => show({ data: { "text/markdown": markdown, "text/plain": markdown } }, options);
  display.svg = (svg, options) => show({ data: { "image/svg+xml": svg, "text/plain": "<svg image>" } }, options);
  display.png = (png, options = {}) => {
    const base64 = typeof png === "string" ? png : Buffer.from(png).toString("base64");
    const size = options.width !== undefined ? { "image/png": { width: options.width, ...(options.height !== undefined ? { height: options.height } : {}) } } : {};
    return show({ data: { "image/png": base64, "text/plain": "<png image>" }, metadata: size }, options);
  };
  display.json = (value, options) => show({ data: { "application/json": JSON.parse(JSON.stringify(value ?? null)), "text/plain": plainText(value, { quoteStrings: true }) }, metadata: { "application/json": { expanded: false } } }, options);
  display.vegalite = (spec, options) => show({ data: { "application/vnd.vegalite.v5+json": spec, "text/plain": `Vega-Lite chart${typeof spec.title === "string" ? `: ${spec.title}` : ""}` } }, options);
  display.bundle = (data, options) => show({ data: { "text/plain": "", ...data } }, options);
  return display;
}

/** clear_output for the running cell; `wait` clears when the next output arrives (no flicker). */
export function createClearOutput(context: () => CellContext | undefined): (options?: { wait?: boolean }) => void {
  return (options = {}) => context()?.publish("clear_output", { wait: options.wait ?? false });
}

function summary(value: unknown): string {
  const name = (value as { constructor?: { name?: string } }).constructor?.name;
  return name && name !== "Object" ? `<${name}>` : plainText(value);
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function stripTags(html: string): string {
  return html.replace(/<[^>]*>/g, "").trim() || "<html>";
}
