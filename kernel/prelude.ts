// What a cell sees without an import line: every export of lib/index.ts, `tf`, and the kernel's own
// cell API. The export list is read from lib/index.ts when the kernel starts (never kept by hand), and
// a part of the library that fails to load is reported in the first cell instead of stopping the kernel.
import { readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { AsyncCellCompiler } from "./compiler_client.js";

/** The library's public entry point. */
export const LIB_INDEX = fileURLToPath(new URL("../lib/index.ts", import.meta.url));
/** `tf`: tfjs-core with its chained tensor methods. */
const LIB_TF = fileURLToPath(new URL("../lib/tf.ts", import.meta.url));
/** How cells see `tf`: from its own module, so that a cell naming only tf is checked without the rest of the library. */
export const TF_DECLARATION = `import * as tf from ${JSON.stringify(LIB_TF.replace(/\.ts$/, ""))};\n`;
const CELL_API = fileURLToPath(new URL("./cell_api.ts", import.meta.url));

/** The prelude: the names cells see from the library (its exports, read from lib/index.ts, and `tf`), and the declaration text that brings them and the kernel's names into scope. */
export interface Prelude {
  libraryNames: string[];
  declaration: string;
}

export async function preludeDeclaration(compiler: AsyncCellCompiler, kernelNames: string[], warnings: string[]): Promise<Prelude> {
  const exported = await compiler.exportedNames(LIB_INDEX, [...kernelNames, "tf"]).catch((error: Error) => {
    warnings.push(`qlora-lab: could not read the library's exports: ${error.message}`);
    return [];
  });
  return {
    libraryNames: [...exported, "tf"],
    declaration: importDeclaration(exported, LIB_INDEX) + TF_DECLARATION + importDeclaration(kernelNames, CELL_API),
  };
}

/** `import { a, b } from "<module without .ts>";` (nothing for no names). */
export function importDeclaration(names: readonly string[], modulePath: string): string {
  return names.length ? `import { ${names.join(", ")} } from ${JSON.stringify(modulePath.replace(/\.ts$/, ""))};\n` : "";
}

/**
 * The library's runtime values (`tf` among them), with the backend resolved; failures become warnings. Process-wide
 * error listeners added while loading are removed: the WebAssembly backend's Emscripten runtime adds an
 * uncaughtException listener that rethrows, which turned a cell's stray async error into a crashed kernel.
 */
export async function loadLibraryValues(warnings: string[]): Promise<Record<string, unknown>> {
  const events = ["uncaughtException", "unhandledRejection"] as const;
  const listenersOf = (event: (typeof events)[number]) => process.listeners(event as "uncaughtException") as ((...args: unknown[]) => void)[];
  const kernelListeners = events.map(listenersOf);
  try {
    const library = await importLibrary(warnings);
    try {
      const { resolveBackend } = (await import("../lib/backend.js")) as typeof import("../lib/backend.js");
      await resolveBackend();
    } catch (error) {
      warnings.push(`qlora-lab: no TensorFlow.js backend could be activated: ${(error as Error).message}`);
    }
    return library;
  } finally {
    events.forEach((event, i) => {
      for (const listener of listenersOf(event)) if (!kernelListeners[i]!.includes(listener)) process.removeListener(event, listener);
    });
  }
}

/** Imports lib/index.ts; if that fails, each module it re-exports on its own, keeping what loads. */
async function importLibrary(warnings: string[]): Promise<Record<string, unknown>> {
  try {
    return { ...(await import(pathToFileURL(LIB_INDEX).href)) };
  } catch (error) {
    const merged: Record<string, unknown> = {};
    // `export * as name from "./x.js"` is one value, `name`; any other re-export spreads the module's names.
    const found = readFileSync(LIB_INDEX, "utf8").matchAll(/(?:\*\s+as\s+([A-Za-z_$][\w$]*)\s+)?from\s+"(\.[^"]+)"/g);
    const reexports = new Map([...found].map((m) => [`${m[1] ?? ""} ${m[2]}`, { as: m[1], specifier: m[2]! }])); // each once
    const failed: string[] = [];
    for (const { as, specifier } of reexports.values()) {
      try {
        const module = await import(new URL(specifier, pathToFileURL(LIB_INDEX)).href);
        Object.assign(merged, as ? { [as]: module } : module);
      } catch (partError) {
        failed.push(`${specifier}: ${firstLine(partError)}`);
      }
    }
    warnings.push(`qlora-lab: part of the library failed to load (${firstLine(error)}); its names are undefined in cells:\n  ${failed.join("\n  ")}`);
    return merged;
  }
}

function firstLine(error: unknown): string {
  return String((error as Error)?.message ?? error).split("\n")[0]!;
}
