// Jupyter-shaped failures: a type error with the cell line under it, a runtime error whose frames are
// mapped back through the compiler's source maps to cell lines, and an interrupt that says where it stopped.
import { CALL_FILENAME } from "./cell_wrapper.js";
import type { CellDiagnostic } from "./compiler.js";
import { plainText } from "./display.js";
import type { ForcedStop } from "./interrupt_watchdog.js";
import { SourceMap, type RawSourceMap } from "./source_map.js";
import type { ErrorContent } from "./wire.js";

/** A failed cell or expression. */
export type Failure = { status: "error" } & ErrorContent;

export function failure(ename: string, evalue: string, traceback: string[]): Failure {
  return { status: "error", ename, evalue, traceback };
}


/** Maps runtime errors of compiled cells back to the cells' own lines. */
export class Tracebacks {
  private readonly maps = new Map<string, SourceMap[]>();

  /** `firstLineOffset`: how many characters the cell wrapper puts before line 1's code. */
  constructor(private readonly firstLineOffset: number) {}

  /** Records a cell's source maps: [map of the ES output, map of the CommonJS output]. */
  remember(filename: string, maps: readonly RawSourceMap[]): void {
    this.maps.set(filename, maps.map((m) => new SourceMap(m)));
  }

  /** The outcome of an error thrown by a cell (or its interrupt). */
  runtimeError(error: unknown): Failure {
    if ((error as { code?: string })?.code === "ERR_SCRIPT_EXECUTION_INTERRUPTED" || (error as Error)?.name === "KeyboardInterrupt") {
      const forced = (error as { forced?: ForcedStop }).forced;
      if (forced) return failure("KeyboardInterrupt", "Execution interrupted inside synchronous code", [this.forcedStopText(forced)]);
      return failure("KeyboardInterrupt", "Execution interrupted", ["KeyboardInterrupt: Execution interrupted (variables defined so far are kept)"]);
    }
    if (!(error instanceof Error) && !(typeof error === "object" && error !== null && "stack" in error)) {
      const text = plainText(error, { quoteStrings: true });
      return failure("Uncaught", text, [`Uncaught ${text}`]);
    }
    const e = error as Error;
    const ename = e.name || e.constructor?.name || "Error";
    const frames = String(e.stack ?? "")
      .split("\n")
      .filter((line) => /^\s+at /.test(line))
      .map((line) => this.mapFrame(line))
      .filter((line): line is string => line !== undefined);
    return failure(ename, e.message, [`${ename}: ${e.message}`, ...frames]);
  }

  /** The traceback line of a forced stop: where the cell was, and what terminating it skipped. */
  forcedStopText(forced: ForcedStop): string {
    const where = this.mapFrame(`    at In[${forced.cell}]:${forced.line}:${forced.column}`)?.replace(/^\s+at /, "") ?? `In[${forced.cell}]`;
    return `KeyboardInterrupt: stopped inside synchronous code at ${where}, which did not return to the event loop. Its finally blocks did not run, and an object it was changing may be half-updated; variables defined so far are kept.`;
  }

  /** Rewrites `In[n]:line:col` to cell lines; drops the kernel's own and Node's internal frames. */
  private mapFrame(line: string): string | undefined {
    if (/node:internal|node:async_hooks|\/kernel\/\w+\.ts|node:vm/.test(line) || line.includes(CALL_FILENAME)) return undefined;
    if (/^\s+at (In\[\d+\]|user_expression)$/.test(line)) return undefined;
    return line
      .replace(/(In\[\d+\]|user_expression):(\d+):(\d+)/, (all, file: string, l: string, c: string) => {
        const maps = this.maps.get(file);
        if (!maps) return all;
        const mapped = mapThrough(maps, Number(l) - 1, Number(c) - 1 - (Number(l) === 1 ? this.firstLineOffset : 0));
        return mapped ? `${file}:${mapped.line + 1}:${mapped.column + 1}` : file;
      })
      .replace(/^\s+at /, "    at ");
  }
}

/** A type error: each diagnostic with the offending cell line and a ~~~ under the span. */
export function typeErrorOutcome(filename: string, code: string, diagnostics: CellDiagnostic[]): Failure {
  const lines = code.split("\n");
  const traceback: string[] = [];
  for (const d of diagnostics) {
    const where = d.fileName ? `${d.fileName}:${d.line + 1}:${d.character + 1}` : `${filename}:${d.line + 1}:${d.character + 1}`;
    traceback.push(`${where} - error TS${d.code}: ${d.message}`);
    if (!d.fileName && lines[d.line] !== undefined) {
      const width = Math.max(1, d.endLine === d.line ? d.endCharacter - d.character : 1);
      traceback.push(`  ${lines[d.line]}`, `  ${" ".repeat(d.character)}${"~".repeat(width)}`);
    }
  }
  const first = diagnostics[0]!;
  return failure("TSError", `${first.message} (line ${first.line + 1})`, traceback);
}

/** Maps through [map of the ES output, map of the CommonJS output] back to the cell (minus the converter's one-line prefix). */
function mapThrough(maps: SourceMap[], line: number, column: number): { line: number; column: number } | undefined {
  let position: { line: number; column: number } | undefined = { line, column: Math.max(0, column) };
  for (const map of [...maps].reverse()) position = position && map.originalPosition(position.line, position.column);
  return position && { line: position.line - 1, column: position.column };
}
