// Runs cells: compile through the compiler thread, run the JavaScript in this thread's V8 context (the
// socket thread's watchdog stops a synchronous loop that outlives SIGINT), keep every declaration on one
// `exports` object across cells, and turn results and failures into Jupyter-shaped outcomes. The parts
// with a job of their own live beside it: library_gate (when the library loads), cell_modules (require
// and import in cells), cell_wrapper (a compiled cell as a function), tracebacks, pager.
import type { DisplayBundle } from "../lib/viz/display.js";
import { CellContext, type OutputRouter, type Publish, type RequestInput } from "./cell_context.js";
import { CellModules } from "./cell_modules.js";
import { WRAP_PREFIX_LENGTH, wrapCell, type CellScope } from "./cell_wrapper.js";
import type { AsyncCellCompiler } from "./compiler_client.js";
import { createClearOutput, createDisplayApi, formatValue, isDisplayHandle } from "./display.js";
import { acknowledgeInterrupt, takeWatchdogSignal } from "./interrupt_watchdog.js";
import { LibraryGate } from "./library_gate.js";
import { documentationPage, pagerQuery, valuePage, type PagePayload } from "./pager.js";
import { preludeDeclaration } from "./prelude.js";
import { Tracebacks, failure, typeErrorOutcome, type Failure } from "./tracebacks.js";

/** How a cell ended. */
export type ExecuteOutcome = { status: "ok"; result?: DisplayBundle; payload: PagePayload[] } | Failure;

/** What the session gives a cell: its number, output channel, and stdin when allowed. */
export interface CellIO {
  executionCount: number;
  silent: boolean;
  publish: Publish;
  input?: RequestInput;
}

/** A user_expressions entry: a bundle or an error. */
export type ExpressionValue = ({ status: "ok" } & DisplayBundle) | Failure;

/** The interface the session runs cells through (tests substitute a fake). */
export interface CellRunner {
  execute(code: string, io: CellIO): Promise<ExecuteOutcome>;
  evaluate(expression: string): Promise<ExpressionValue>;
  inspect(code: string, position: number, detailLevel: number): Promise<{ found: boolean; data: Record<string, string> }>;
  complete(code: string, position: number): Promise<{ matches: string[]; start: number; end: number; types: { start: number; end: number; text: string; type: string }[] }>;
  isComplete(code: string): Promise<{ status: "complete" | "incomplete" | "invalid" | "unknown"; indent?: string }>;
  interrupt(): void;
  /** Language details for kernel_info (TypeScript version). */
  languageVersion(): string;
}

/** Options of {@link Executor}. */
export interface ExecutorOptions {
  /** Where cells resolve relative imports and packages (default: the process's working directory). */
  cwd?: string;
  /** The interrupt state shared with the socket thread's watchdog (see interrupt_watchdog.ts). */
  interrupts?: Int32Array;
}

/** The cell being executed (compiling, waiting for the library, or running) and how to stop it. */
interface ActiveCell {
  context: CellContext;
  interrupted?: Error;
  reject?: (error: Error) => void;
}

/** The TypeScript cell runner. */
export class Executor implements CellRunner {
  /** Resolves once the prelude is declared and the compiler is ready; the first cell waits for it. */
  readonly ready: Promise<void>;
  private declarations = "";
  private readonly warnings: string[] = [];
  private readonly locals = createLocals();
  private readonly modules: CellModules;
  private readonly scope: CellScope;
  private readonly tracebacks = new Tracebacks(WRAP_PREFIX_LENGTH);
  private library: LibraryGate | undefined;
  private active: ActiveCell | undefined;
  private tsVersion = "";
  private readonly interrupts: Int32Array | undefined;

  constructor(
    private readonly compiler: AsyncCellCompiler,
    private readonly router: OutputRouter,
    options: ExecutorOptions = {},
  ) {
    this.interrupts = options.interrupts;
    this.modules = new CellModules(options.cwd ?? process.cwd());
    this.scope = { exports: this.locals, require: this.modules.require, import: (spec) => this.modules.import(spec) };
    const current = () => router.current();
    const kernelValues: Record<string, unknown> = {
      display: createDisplayApi(current),
      clearOutput: createClearOutput(current),
      input: (prompt = "") => this.input(prompt, false),
      password: (prompt = "") => this.input(prompt, true),
      interruptSignal: () => (router.current()?.abort.signal ?? new AbortController().signal),
      page: (value: unknown) => void router.current()?.pages.push(value),
    };
    this.ready = this.load(kernelValues);
    this.ready.catch(() => undefined);
  }

  private async load(kernelValues: Record<string, unknown>): Promise<void> {
    Object.assign(this.locals, kernelValues);
    const prelude = await preludeDeclaration(this.compiler, Object.keys(kernelValues), this.warnings);
    this.declarations = prelude.declaration;
    this.library = new LibraryGate(this.compiler, prelude.libraryNames, this.warnings);
    void this.library.loaded().then((values) => {
      // Kernel names win over a library export of the same name.
      for (const [name, value] of Object.entries(values)) if (!(name in kernelValues)) this.locals[name] = value;
    }, () => undefined);
    this.tsVersion = await this.compiler.typescriptVersion();
    // Load the library's types (seconds) once the compiler is idle: right after the first cell, or
    // shortly after start-up when no cell comes, so a first cell that needs no library does not wait.
    setTimeout(() => void this.library?.warmTypes(this.declarations), 1500).unref();
  }

  languageVersion(): string {
    return this.tsVersion || "5.0";
  }

  async execute(code: string, io: CellIO): Promise<ExecuteOutcome> {
    const cell: ActiveCell = { context: new CellContext(io.executionCount, io.silent ? () => undefined : io.publish, io.input) };
    this.active = cell;
    try {
      return await this.executeCell(code, io, cell);
    } finally {
      if (this.active === cell) this.active = undefined;
    }
  }

  private async executeCell(code: string, io: CellIO, cell: ActiveCell): Promise<ExecuteOutcome> {
    const { context } = cell;
    try {
      await this.ready;
    } catch (error) {
      return failure("KernelStartError", `the kernel could not load its prelude: ${(error as Error).message}`, [String((error as Error).stack)]);
    }
    const library = this.library!;
    const asked = pagerQuery(code);
    if (asked) {
      const info = await this.inspect(asked, asked.length, 1);
      context.flush();
      return { status: "ok", payload: [documentationPage(asked, info.found, info.data)] };
    }
    const filename = `In[${io.executionCount}]`;
    // The compiler checks the cell against the declarations it reaches (see reachable_declarations.ts):
    // a cell naming nothing from the library compiles without the library's files.
    const namesLibrary = library.namedBy(code);
    const compiled = await library.whileCompiling(() => this.compiler.convert(this.declarations, code));
    if (!namesLibrary) void library.warmTypes(this.declarations);
    if (!compiled.ok) return typeErrorOutcome(filename, code, compiled.diagnostics);
    this.modules.addCompiled(compiled.sideOutputs);
    this.tracebacks.remember(filename, compiled.maps);
    await library.before(compiled.js);
    for (const warning of this.warnings.splice(0)) context.write("stderr", `${warning}\n`);
    // Interrupted while compiling or waiting for the library: the cell does not start.
    if (cell.interrupted) return this.tracebacks.runtimeError(cell.interrupted);
    const { run, isAsync } = wrapCell(compiled.js, compiled.hasToplevelAwait, filename);
    let outcome: ExecuteOutcome;
    try {
      const returned = this.router.run(context, () => run(this.scope));
      if (isAsync) {
        await new Promise<void>((resolve, reject) => {
          cell.reject = reject;
          (returned as Promise<void>).then(resolve, reject);
        });
      }
      const value = this.takeLastExpression(compiled.lastExpressionVar);
      outcome = {
        status: "ok",
        result: value === undefined || isDisplayHandle(value) ? undefined : formatValue(value, { quoteStrings: true }),
        payload: context.pages.map(valuePage),
      };
    } catch (error) {
      // vm's breakOnSigint took the signal, so no SIGINT listener will: account for a watchdog's.
      if ((error as { code?: string } | null)?.code === "ERR_SCRIPT_EXECUTION_INTERRUPTED" && this.interrupts) takeWatchdogSignal(this.interrupts);
      outcome = this.tracebacks.runtimeError(error);
    } finally {
      cell.reject = undefined;
    }
    // Declarations made before a failure or an interrupt are kept, so later cells can use them.
    this.declarations = compiled.declOutput;
    context.flush();
    return outcome;
  }

  /**
   * A user_expressions entry, evaluated as ipykernel does: synchronously, its value shown as it is (a
   * promise is not awaited, so an expression that never settles cannot hold the shell).
   */
  async evaluate(expression: string): Promise<ExpressionValue> {
    await this.ready;
    const compiled = await this.compiler.convert(this.declarations, expression);
    if (!compiled.ok) return typeErrorOutcome("user_expression", expression, compiled.diagnostics);
    const { run, isAsync } = wrapCell(compiled.js, compiled.hasToplevelAwait, "user_expression");
    if (isAsync) return failure("UserExpressionError", "user_expressions are evaluated without awaiting (as ipykernel evaluates them); this one uses await or import", []);
    await this.library!.before(compiled.js);
    try {
      this.router.run(new CellContext(0, () => undefined, undefined), () => run(this.scope));
      return { status: "ok", ...formatValue(this.takeLastExpression(compiled.lastExpressionVar), { quoteStrings: true }) };
    } catch (error) {
      return this.tracebacks.runtimeError(error);
    }
  }

  /** The value of the compiled code's last expression, removed from the locals it was parked in. */
  private takeLastExpression(name: string | undefined): unknown {
    if (!name) return undefined;
    const value = this.locals[name];
    delete this.locals[name];
    return value;
  }

  async inspect(code: string, position: number, detailLevel: number): Promise<{ found: boolean; data: Record<string, string> }> {
    await this.ready;
    // Shift-Tab after "f(" or "x." should still describe f / x: step back over the punctuation.
    let pos = position;
    let info = await this.compiler.inspect(this.declarations, code, pos);
    while (!info && pos > 0 && /[\s(.,]/.test(code[pos - 1]!)) info = await this.compiler.inspect(this.declarations, code, --pos);
    if (!info) return { found: false, data: {} };
    const tags = info.tags.map((t) => `@${t.name}${t.text ? ` ${t.text}` : ""}`);
    const docs = [info.documentation, detailLevel > 0 ? tags.join("\n") : tags.filter((t) => !t.startsWith("@example")).join("\n")].filter(Boolean).join("\n\n");
    return {
      found: true,
      data: {
        "text/plain": docs ? `${info.signature}\n\n${docs}` : info.signature,
        "text/markdown": `\`\`\`typescript\n${info.signature}\n\`\`\`${docs ? `\n\n${docs}` : ""}`,
      },
    };
  }

  async complete(code: string, position: number) {
    await this.ready;
    const result = await this.compiler.complete(this.declarations, code, position);
    const matches = result.candidates.slice(0, 500);
    return { matches, start: result.start, end: result.end, types: matches.map((text) => ({ start: result.start, end: result.end, text, type: result.kinds[text] ?? "" })) };
  }

  async isComplete(code: string) {
    return this.compiler.isComplete(code);
  }

  /**
   * Stops the cell being executed: a running cell's promise rejects now and its later timers are
   * dropped; a cell still compiling does not start. When the watchdog had to terminate synchronous code
   * to get here, the outcome says where (a stray timer's loop, stopped with no cell executing, is
   * reported to the latest cell).
   */
  interrupt(): void {
    const forced = this.interrupts && acknowledgeInterrupt(this.interrupts);
    if (forced) this.router.resumeTracking();
    const cell = this.active;
    if (!cell) {
      if (forced) this.router.current()?.write("stderr", `${this.tracebacks.forcedStopText(forced)}\n`);
      return;
    }
    const error = Object.assign(new Error("Execution interrupted"), { name: "KeyboardInterrupt", forced });
    cell.interrupted ??= error;
    cell.context.abort.abort();
    cell.reject?.(error);
  }

  private async input(prompt: string, password: boolean): Promise<string> {
    const context = this.router.current();
    if (!context?.requestInput) throw new Error(`${password ? "password" : "input"}: expected a front end that allows stdin, got allow_stdin=false. Run the cell from a notebook front end.`);
    context.flush();
    return context.requestInput(prompt, password);
  }
}

/** The locals object cells read and write; re-exported imports become plain values (tslab's approach). */
function createLocals(): Record<string, unknown> {
  const target: Record<string, unknown> = {};
  return new Proxy(target, {
    defineProperty(_t, property, attributes) {
      if (property === "__esModule") return true;
      target[property as string] = attributes.get ? attributes.get() : attributes.value;
      return true;
    },
  });
}
