// Runs cells: compile through the compiler thread, run the JavaScript in this thread's V8 context (vm
// with breakOnSigint, so SIGINT stops a synchronous loop before the cell's first await; the socket
// thread's watchdog stops one after it), keep every declaration on one `exports` object across cells,
// and turn results and failures into Jupyter-shaped outcomes.
import Module, { builtinModules, createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { pathToFileURL } from "node:url";
import vm from "node:vm";
import type { DisplayBundle } from "../lib/viz/display.js";
import { CellContext, type OutputRouter, type Publish, type RequestInput } from "./cell_context.js";
import type { AsyncCellCompiler } from "./compiler_client.js";
import type { CellDiagnostic } from "./compiler.js";
import { createClearOutput, createDisplayApi, formatValue, isDisplayHandle, plainText } from "./display.js";
import { acknowledgeInterrupt, PREPARE_FORCED_STOP, type ForcedStop } from "./interrupt_watchdog.js";
import { loadLibraryValues, preludeDeclaration } from "./prelude.js";
import { SourceMap } from "./source_map.js";
import type { ErrorContent } from "./wire.js";

/** How a cell ended. */
export type ExecuteOutcome =
  | { status: "ok"; result?: DisplayBundle; payload: Record<string, unknown>[] }
  | ({ status: "error" } & ErrorContent);

/** What the session gives a cell: its number, output channel, and stdin when allowed. */
export interface CellIO {
  executionCount: number;
  silent: boolean;
  publish: Publish;
  input?: RequestInput;
}

/** A user_expressions entry: a bundle or an error. */
export type ExpressionValue = ({ status: "ok" } & DisplayBundle) | ({ status: "error" } & ErrorContent);

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

const HOOK = Symbol.for("qlora-lab.kernel.cell");
const PAGER = /^\s*\??\s*([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)\s*\?\s*$/;

/** The TypeScript cell runner. */
export class Executor implements CellRunner {
  /** Resolves once the library is loaded and the compiler is ready; the first cell waits for it. */
  readonly ready: Promise<void>;
  private prevDecl = "";
  private warnings: string[] = [];
  private readonly locals: Record<string, unknown>;
  private readonly maps = new Map<string, SourceMap[]>();
  private readonly sideOutputs = new Map<string, string>();
  private readonly sideModules = new Map<string, unknown>();
  private readonly requireFromCwd: NodeJS.Require;
  /** The cell being executed (compiling, waiting for the library, or running) and how to stop it. */
  private active: { context: CellContext; interrupted?: Error; reject?: (error: Error) => void } | undefined;
  private tsVersion = "";
  private libraryNames = new Set<string>();
  private typesWarm: Promise<void> | undefined;
  private libraryReady: Promise<void> = Promise.resolve();
  private openLibrary: () => void = () => undefined;
  /** Set while a cell compiles (the library waits for a first cell's compile to finish). */
  private compiling = false;

  private readonly cwd: string;
  private readonly interrupts: Int32Array | undefined;

  constructor(
    private readonly compiler: AsyncCellCompiler,
    private readonly router: OutputRouter,
    options: ExecutorOptions = {},
  ) {
    this.cwd = options.cwd ?? process.cwd();
    this.interrupts = options.interrupts;
    this.locals = createLocals();
    this.requireFromCwd = withFallback(createRequire(join(this.cwd, "__cell__.js")), createRequire(import.meta.url));
    const current = () => router.current();
    const kernelValues: Record<string, unknown> = {
      display: createDisplayApi(current),
      clearOutput: createClearOutput(current),
      input: (prompt = "") => this.input(prompt, false),
      password: (prompt = "") => this.input(prompt, true),
      interruptSignal: () => (router.current()?.abort.signal ?? new AbortController().signal),
      page: (value: unknown) => {
        const context = router.current() as (CellContext & { pages?: unknown[] }) | undefined;
        if (context) (context.pages ??= []).push(value);
      },
    };
    (globalThis as unknown as Record<symbol, unknown>)[HOOK] = { exports: this.locals, require: this.cellRequire(), import: (spec: string) => this.importModule(spec) };
    (globalThis as unknown as Record<symbol, unknown>)[PREPARE_FORCED_STOP] = () => router.suspendTracking();
    this.ready = this.load(kernelValues);
    this.ready.catch(() => undefined);
  }

  private async load(kernelValues: Record<string, unknown>): Promise<void> {
    Object.assign(this.locals, kernelValues);
    this.libraryNames = new Set();
    // The library loads once the compiler is up and a first cell that needs no library has compiled (or
    // half a second later, or at once for a cell that names it): on two busy cores, loading both at the
    // same time made each take as long as the two one after the other, and delayed a plain first cell.
    const gate = new Promise<void>((resolve) => (this.openLibrary = resolve));
    const whenIdle = (): void => void (this.compiling ? undefined : this.openLibrary());
    void this.compiler.ready.then(() => setTimeout(whenIdle, 500).unref(), () => this.openLibrary());
    this.libraryReady = gate.then(() => loadLibraryValues(this.warnings)).then((values) => {
      // Kernel names win over a library export of the same name.
      for (const [name, value] of Object.entries(values)) if (!(name in kernelValues)) this.locals[name] = value;
    });
    this.libraryReady.catch(() => undefined);
    const prelude = await preludeDeclaration(this.compiler, Object.keys(kernelValues), this.warnings);
    this.prevDecl = prelude.library + prelude.kernel;
    const braces = /\{([^}]*)\}/.exec(prelude.library)?.[1] ?? "";
    for (const match of braces.matchAll(/[A-Za-z_$][\w$]*/g)) this.libraryNames.add(match[0]);
    this.libraryNames.add("tf");
    for (const name of Object.keys(kernelValues)) this.libraryNames.delete(name);
    this.tsVersion = await this.compiler.typescriptVersion();
    // Load the library's types (seconds) once the compiler is idle: right after the first cell, or
    // shortly after start-up when no cell comes, so a first cell that needs no library does not wait.
    setTimeout(() => this.warmTypes(), 1500).unref();
  }

  /** Type-checks a cell naming the library and `tf`, so the library's types are loaded before a cell needs them. */
  private warmTypes(): Promise<void> {
    const libraryName = [...this.libraryNames].find((name) => name !== "tf") ?? "";
    this.typesWarm ??= this.compiler.convert(this.prevDecl, `tf; ${libraryName};`).then(() => undefined, () => undefined);
    return this.typesWarm;
  }

  private namesLibrary(text: string): boolean {
    for (const match of text.matchAll(/[A-Za-z_$][\w$]*/g)) if (this.libraryNames.has(match[0])) return true;
    return false;
  }

  /** Waits for the library's values when compiled code reads one of them (plain cells need not wait). */
  private async valuesFor(js: string): Promise<void> {
    this.openLibrary();
    for (const match of js.matchAll(/\bexports\.([A-Za-z_$][\w$]*)/g)) {
      if (this.libraryNames.has(match[1]!)) return this.libraryReady;
    }
  }

  languageVersion(): string {
    return this.tsVersion || "5.0";
  }

  async execute(code: string, io: CellIO): Promise<ExecuteOutcome> {
    const cell = { context: new CellContext(io.executionCount, io.silent ? () => undefined : io.publish, io.input) };
    this.active = cell;
    try {
      return await this.executeCell(code, io, cell);
    } finally {
      if (this.active === cell) this.active = undefined;
    }
  }

  private async executeCell(code: string, io: CellIO, cell: NonNullable<Executor["active"]>): Promise<ExecuteOutcome> {
    const { context } = cell;
    try {
      await this.ready;
    } catch (error) {
      return failure("KernelStartError", `the kernel could not load its prelude: ${(error as Error).message}`, [String((error as Error).stack)]);
    }
    const pager = PAGER.exec(code);
    if (pager) {
      const info = await this.inspect(pager[1]!, pager[1]!.length, 1);
      context.flush();
      const data = info.found ? info.data : { "text/plain": `No documentation found for ${pager[1]}.` };
      return { status: "ok", payload: [{ source: "page", data, start: 0 }] };
    }
    const filename = `In[${io.executionCount}]`;
    // The compiler checks the cell against the declarations it reaches (see reachable_declarations.ts):
    // a cell naming nothing from the library compiles without the library's files.
    const library = this.namesLibrary(code);
    if (library) this.openLibrary();
    this.compiling = true;
    const compiled = await this.compiler.convert(this.prevDecl, code).finally(() => (this.compiling = false));
    this.openLibrary();
    if (!library) void this.warmTypes();
    if (!compiled.ok) return typeErrorOutcome(filename, code, compiled.diagnostics);
    for (const side of compiled.sideOutputs) {
      this.sideOutputs.set(side.path, side.data);
      this.sideModules.delete(side.path);
    }
    this.maps.set(filename, compiled.maps.map((m) => new SourceMap(m)));
    await this.valuesFor(compiled.js);
    for (const warning of this.warnings.splice(0)) context.write("stderr", `${warning}\n`);
    // Interrupted while compiling or waiting for the library: the cell does not start.
    if (cell.interrupted) return this.runtimeErrorOutcome(cell.interrupted);
    const { source, isAsync } = wrapCell(compiled.js, compiled.hasToplevelAwait);
    let outcome: ExecuteOutcome;
    try {
      const returned = this.router.run(context, () => vm.runInThisContext(source, { filename, breakOnSigint: true }) as unknown);
      if (isAsync) {
        await new Promise<void>((resolve, reject) => {
          cell.reject = reject;
          (returned as Promise<void>).then(resolve, reject);
        });
      }
      const value = compiled.lastExpressionVar ? this.locals[compiled.lastExpressionVar] : undefined;
      if (compiled.lastExpressionVar) delete this.locals[compiled.lastExpressionVar];
      const pages = (context as CellContext & { pages?: unknown[] }).pages ?? [];
      outcome = {
        status: "ok",
        result: value === undefined || isDisplayHandle(value) ? undefined : formatValue(value, { quoteStrings: true }),
        payload: pages.map((p) => ({ source: "page", data: { "text/plain": plainText(p) }, start: 0 })),
      };
    } catch (error) {
      outcome = this.runtimeErrorOutcome(error);
    } finally {
      cell.reject = undefined;
    }
    // Declarations made before a failure or an interrupt are kept, so later cells can use them.
    this.prevDecl = compiled.declOutput;
    context.flush();
    return outcome;
  }

  async evaluate(expression: string): Promise<ExpressionValue> {
    await this.ready;
    const compiled = await this.compiler.convert(this.prevDecl, expression);
    if (!compiled.ok) {
      const outcome = typeErrorOutcome("user_expression", expression, compiled.diagnostics);
      return outcome as ExpressionValue;
    }
    const context = new CellContext(0, () => undefined, undefined);
    await this.valuesFor(compiled.js);
    try {
      const { source, isAsync } = wrapCell(compiled.js, compiled.hasToplevelAwait);
      const returned = this.router.run(context, () => vm.runInThisContext(source, { filename: "user_expression", breakOnSigint: true }) as unknown);
      if (isAsync) await returned;
      const value = compiled.lastExpressionVar ? this.locals[compiled.lastExpressionVar] : undefined;
      if (compiled.lastExpressionVar) delete this.locals[compiled.lastExpressionVar];
      return { status: "ok", ...formatValue(value, { quoteStrings: true }) };
    } catch (error) {
      return this.runtimeErrorOutcome(error) as ExpressionValue;
    }
  }

  async inspect(code: string, position: number, detailLevel: number): Promise<{ found: boolean; data: Record<string, string> }> {
    await this.ready;
    // Shift-Tab after "f(" or "x." should still describe f / x: step back over the punctuation.
    let pos = position;
    let info = await this.compiler.inspect(this.prevDecl, code, pos);
    while (!info && pos > 0 && /[\s(.,]/.test(code[pos - 1]!)) info = await this.compiler.inspect(this.prevDecl, code, --pos);
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
    const result = await this.compiler.complete(this.prevDecl, code, position);
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
      if (forced) this.router.current()?.write("stderr", `${forcedStopText(forced, (frame) => this.mapFrame(frame))}\n`);
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

  private runtimeErrorOutcome(error: unknown): ExecuteOutcome & { status: "error" } {
    if ((error as { code?: string })?.code === "ERR_SCRIPT_EXECUTION_INTERRUPTED" || (error as Error)?.name === "KeyboardInterrupt") {
      const forced = (error as { forced?: ForcedStop }).forced;
      if (forced) return failure("KeyboardInterrupt", "Execution interrupted inside synchronous code", [forcedStopText(forced, (frame) => this.mapFrame(frame))]);
      return failure("KeyboardInterrupt", "Execution interrupted", ["KeyboardInterrupt: Execution interrupted (variables defined so far are kept)"]);
    }
    if (!(error instanceof Error) && !(typeof error === "object" && error !== null && "stack" in error)) {
      const text = plainText(error, { quoteStrings: true });
      return failure("Uncaught", text, [`Uncaught ${text}`]);
    }
    const e = error as Error;
    const ename = e.name || e.constructor?.name || "Error";
    const header = `${ename}: ${e.message}`;
    const frames = String(e.stack ?? "")
      .split("\n")
      .filter((line) => /^\s+at /.test(line))
      .map((line) => this.mapFrame(line))
      .filter((line): line is string => line !== undefined);
    return failure(ename, e.message, [header, ...frames]);
  }

  /** Rewrites `In[n]:line:col` to cell lines; drops the kernel's own and Node's internal frames. */
  private mapFrame(line: string): string | undefined {
    if (/node:internal|node:async_hooks|\/kernel\/\w+\.ts|node:vm/.test(line)) return undefined;
    if (/^\s+at (In\[\d+\]|user_expression)$/.test(line)) return undefined;
    return line.replace(/(In\[\d+\]|user_expression):(\d+):(\d+)/, (all, file: string, l: string, c: string) => {
      const maps = this.maps.get(file);
      if (!maps) return all;
      const mapped = mapThrough(maps, Number(l) - 1, Number(c) - 1 - (Number(l) === 1 ? WRAP_PREFIX_LENGTH : 0));
      return mapped ? `${file}:${mapped.line + 1}:${mapped.column + 1}` : file;
    }).replace(/^\s+at /, "    at ");
  }

  /** `require` for cells: compiled local .ts modules first, then Node's resolution from the cwd. */
  private cellRequire(): NodeJS.Require {
    const base = this.requireFromCwd;
    const req = ((id: string) => this.requireSide(id, this.cwd) ?? base(id)) as NodeJS.Require;
    return Object.assign(req, { resolve: base.resolve, cache: base.cache, main: base.main, extensions: base.extensions });
  }

  private requireSide(id: string, fromDir: string): unknown {
    if (!id.startsWith(".") && !id.startsWith("/")) return undefined;
    let filename = join(fromDir, id);
    if (extname(filename) === "") filename += ".js";
    else if (filename.endsWith(".ts")) filename = filename.replace(/\.ts$/, ".js");
    if (this.sideModules.has(filename)) return this.sideModules.get(filename);
    const code = this.sideOutputs.get(filename);
    if (code === undefined) return undefined;
    const ModuleClass = Module as unknown as { new (id: string): { filename: string; paths: string[]; exports: unknown; require: (id: string) => unknown; _compile(code: string, f: string): void }; _nodeModulePaths(d: string): string[] };
    const mod = new ModuleClass(filename);
    mod.filename = filename;
    mod.paths = ModuleClass._nodeModulePaths(dirname(filename));
    const own = createRequire(filename);
    mod.require = (child: string) => this.requireSide(child, dirname(filename)) ?? own(child);
    this.sideModules.set(filename, mod.exports);
    mod._compile(code, filename);
    this.sideModules.set(filename, mod.exports);
    return mod.exports;
  }

  /** A cell's `import`: CommonJS through require, ES modules (vega-lite, arquero) through import(). */
  private async importModule(spec: string): Promise<unknown> {
    if (spec.startsWith("node:") || builtinModules.includes(spec)) return this.requireFromCwd(spec);
    const side = this.requireSide(spec, this.cwd);
    if (side !== undefined) return side;
    let resolved: string | undefined;
    try {
      resolved = this.requireFromCwd.resolve(spec);
    } catch {
      resolved = undefined;
    }
    if (resolved && !isEsmFile(resolved)) return this.requireFromCwd(spec);
    const namespace = (await import(resolved ? pathToFileURL(resolved).href : spec)) as Record<string, unknown>;
    return { ...namespace, __esModule: true };
  }
}

const WRAP_PREFIX = (isAsync: boolean) => `(${isAsync ? "async " : ""}function (exports, require, __qlImport) { `;
const WRAP_PREFIX_LENGTH = WRAP_PREFIX(true).length;

/** Wraps compiled CommonJS so it runs against the kernel's locals; top-level requires become import(). */
function wrapCell(js: string, hasToplevelAwait: boolean): { source: string; isAsync: boolean } {
  let rewrote = false;
  // Only unindented lines are top-level statements in the compiler's output; nested requires stay sync.
  const body = js.replace(/^((?:const|let|var) [\w$]+ = (?:__importStar\(|__importDefault\()?|)require\((["'][^"'\n]+["'])\)/gm, (_all, head: string, spec: string) => {
    rewrote = true;
    return `${head}(await __qlImport(${spec}))`;
  });
  const isAsync = hasToplevelAwait || rewrote;
  // Keep the prefix on line 1 so line numbers match the compiled output; pad it to a fixed width.
  const prefix = WRAP_PREFIX(isAsync).padEnd(WRAP_PREFIX_LENGTH);
  const hook = `globalThis[Symbol.for("qlora-lab.kernel.cell")]`;
  return { source: `${prefix}${body}\n})(${hook}.exports, ${hook}.require, ${hook}.import)`, isAsync };
}

/** Maps through [map of the ES output, map of the CommonJS output] back to the cell (minus the converter's one-line prefix). */
function mapThrough(maps: SourceMap[], line: number, column: number): { line: number; column: number } | undefined {
  let position: { line: number; column: number } | undefined = { line, column: Math.max(0, column) };
  for (const map of [...maps].reverse()) {
    position = position && map.originalPosition(position.line, position.column);
  }
  return position && { line: position.line - 1, column: position.column };
}

function typeErrorOutcome(filename: string, code: string, diagnostics: CellDiagnostic[]): ExecuteOutcome & { status: "error" } {
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

/** The traceback line of a forced stop: where the cell was, and what terminating it skipped. */
function forcedStopText(forced: ForcedStop, mapFrame: (frame: string) => string | undefined): string {
  const where = mapFrame(`    at In[${forced.cell}]:${forced.line}:${forced.column}`)?.replace(/^\s+at /, "") ?? `In[${forced.cell}]`;
  return `KeyboardInterrupt: stopped inside synchronous code at ${where}, which did not return to the event loop. Its finally blocks did not run, and an object it was changing may be half-updated; variables defined so far are kept.`;
}

function failure(ename: string, evalue: string, traceback: string[]): ExecuteOutcome & { status: "error" } {
  return { status: "error", ename, evalue, traceback };
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

/** require from the notebook's directory, falling back to the packages qlora-lab itself ships. */
function withFallback(primary: NodeJS.Require, fallback: NodeJS.Require): NodeJS.Require {
  const resolve = ((id: string, options?: { paths?: string[] }) => {
    try {
      return primary.resolve(id, options);
    } catch {
      return fallback.resolve(id, options);
    }
  }) as NodeJS.RequireResolve;
  resolve.paths = primary.resolve.paths;
  const req = ((id: string) => primary(resolve(id))) as NodeJS.Require;
  return Object.assign(req, { resolve, cache: primary.cache, main: primary.main, extensions: primary.extensions });
}

function isEsmFile(file: string): boolean {
  if (file.endsWith(".mjs")) return true;
  if (file.endsWith(".cjs") || !file.endsWith(".js")) return false;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        return (JSON.parse(readFileSync(pkg, "utf8")) as { type?: string }).type === "module";
      } catch {
        return false;
      }
    }
    if (dirname(dir) === dir) return false;
  }
}
