// A compiled cell as a function of the kernel's locals: the converter's CommonJS output runs with
// `exports` (every declaration, kept across cells), the cell's `require`, and an `import` that top-level
// requires become, so that ES modules load too.
import vm from "node:vm";

/** The values a cell's function is called with. */
export interface CellScope {
  exports: Record<string, unknown>;
  require: NodeJS.Require;
  import: (spec: string) => Promise<unknown>;
}

type CellFunction = (exports: CellScope["exports"], require: CellScope["require"], load: CellScope["import"]) => unknown;

/** The file name of the one-line script that calls a cell (tracebacks leave its frame out). */
export const CALL_FILENAME = "qlora-lab:call-cell";
const CALL_SLOT = Symbol.for("qlora-lab.kernel.call-cell");
const CALL_SCRIPT = `globalThis[Symbol.for(${JSON.stringify(CALL_SLOT.description)})]()`;

const prefix = (isAsync: boolean) => `(${isAsync ? "async " : ""}function (exports, require, __qlImport) { `;
/** Characters before line 1's code; tracebacks subtract it from line 1's columns. */
export const WRAP_PREFIX_LENGTH = prefix(true).length;

/** Compiles a cell's JavaScript into a function of {@link CellScope}; `isAsync` when it must be awaited. */
export function wrapCell(js: string, hasToplevelAwait: boolean, filename: string): { run: (scope: CellScope) => unknown; isAsync: boolean } {
  let rewrote = false;
  // Only unindented lines are top-level statements in the compiler's output; nested requires stay sync.
  const body = js.replace(/^((?:const|let|var) [\w$]+ = (?:__importStar\(|__importDefault\()?|)require\((["'][^"'\n]+["'])\)/gm, (_all, head: string, spec: string) => {
    rewrote = true;
    return `${head}(await __qlImport(${spec}))`;
  });
  const isAsync = hasToplevelAwait || rewrote;
  // Keep the prefix on line 1 so line numbers match the compiled output; pad it to a fixed width.
  const source = `${prefix(isAsync).padEnd(WRAP_PREFIX_LENGTH)}${body}\n})`;
  return {
    isAsync,
    run: (scope) => {
      const cell = vm.runInThisContext(source, { filename }) as CellFunction;
      // The call must happen inside a script run with breakOnSigint, so that SIGINT stops a synchronous
      // loop before the cell's first await; such a script sees only globals, so the call is parked on one
      // for exactly as long as that script takes to pick it up.
      const slot = globalThis as unknown as Record<symbol, (() => unknown) | undefined>;
      slot[CALL_SLOT] = () => cell(scope.exports, scope.require, scope.import);
      try {
        return vm.runInThisContext(CALL_SCRIPT, { filename: CALL_FILENAME, breakOnSigint: true });
      } finally {
        delete slot[CALL_SLOT];
      }
    },
  };
}
