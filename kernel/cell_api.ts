// The kernel's own names in every cell's scope (types and docs only: the values come from the
// running kernel). The prelude imports these next to the library's exports and `tf`.
import type { DisplayApi } from "./display.js";

/**
 * Shows a value below the cell: Displayable values render themselves, tensors show shape, dtype and
 * a preview, anything else prints as text. Returns a handle whose `update(value)` replaces the output
 * in place. Helpers: `display.html`, `.markdown`, `.svg`, `.png`, `.json`, `.vegalite`, `.bundle`.
 */
export declare const display: DisplayApi;

/** Clears the cell's output; with `{ wait: true }` it clears when the next output arrives (no flicker). */
export declare function clearOutput(options?: { wait?: boolean }): void;

/** Asks the user for a line of text (needs a front end that allows stdin). */
export declare function input(prompt?: string): Promise<string>;

/** Asks the user for a secret; the front end hides what is typed. */
export declare function password(prompt?: string): Promise<string>;

/** The running cell's AbortSignal, aborted when the cell is interrupted (pass it to long loops). */
export declare function interruptSignal(): AbortSignal;

/** Shows text or a value in the front end's pager (what `name?` does). */
export declare function page(value: unknown): void;
