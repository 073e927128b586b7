// The display contract between the library and any front end. Values render themselves through
// Symbol.for("Jupyter.display") (Deno's convention); live views update through a DisplayFunction
// the caller passes in (the kernel's `display`), so the library never imports the kernel.

/** MIME type -> data, e.g. { "text/plain": "...", "image/png": "<base64>" }. */
export type MimeBundle = Record<string, unknown>;

/** A bundle with per-MIME metadata, e.g. { "image/png": { width, height } }. */
export interface DisplayBundle {
  data: MimeBundle;
  metadata?: Record<string, unknown>;
}

/** The symbol a value implements to render itself in a notebook. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

/** A value that renders itself: returns a plain MIME bundle or a bundle with metadata. */
export interface Displayable {
  [JUPYTER_DISPLAY](): MimeBundle | DisplayBundle;
}

/** A shown output that can be replaced in place (Jupyter's update_display_data). */
export interface DisplayHandle {
  readonly displayId: string;
  update(value: unknown): void;
}

/** Shows a value and returns a handle to update it; the kernel's `display` has this type. */
export type DisplayFunction = (value: unknown) => DisplayHandle;

/** True when `value` implements {@link Displayable}. */
export function isDisplayable(value: unknown): value is Displayable {
  return typeof value === "object" && value !== null && typeof (value as Record<symbol, unknown>)[JUPYTER_DISPLAY] === "function";
}

/** Normalises what a Displayable returns to a {@link DisplayBundle}. */
export function toDisplayBundle(rendered: MimeBundle | DisplayBundle): DisplayBundle {
  const maybe = rendered as DisplayBundle;
  const isBundle = typeof maybe.data === "object" && maybe.data !== null && !Object.keys(rendered).some((k) => k.includes("/"));
  return isBundle ? { data: maybe.data, metadata: maybe.metadata ?? {} } : { data: rendered as MimeBundle, metadata: {} };
}
