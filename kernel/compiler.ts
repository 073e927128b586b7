// Cells from TypeScript to runnable JavaScript through tslab's converter (type checking against the
// declarations of earlier cells, last-expression capture), with these adjustments made by handing the
// converter a patched `typescript`: bundler module resolution (ESM packages' "exports" types), inline
// source maps (tracebacks in cell lines), only @types/node as an implicit global (other typings load when
// imported), file watchers that never throw into the event loop, a plain Program in place of the
// watch program's builder (see createProgramOnly), and cell_transform.ts's rewrite of every top-level
// declaration onto the shared scope in place of the converter's own rewrite of earlier cells' names.
import Module, { builtinModules, createRequire } from "node:module";
import { readFileSync, existsSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type * as TS from "@tslab/typescript-for-tslab";
import { cellScopeTransformer } from "./cell_transform.js";
import { createDeclarationSplitter } from "./reachable_declarations.js";
import { extractInlineMaps, type RawSourceMap } from "./source_map.js";

/** A diagnostic in cell coordinates (zero-based line and character). */
export interface CellDiagnostic {
  line: number;
  character: number;
  endLine: number;
  endCharacter: number;
  message: string;
  code: number;
  /** Set when the diagnostic is in another file the cell imports. */
  fileName?: string;
}

/** A compiled cell ready to run, or why it cannot. */
export type CompileResult =
  | { ok: true; js: string; declOutput: string; lastExpressionVar?: string; hasToplevelAwait: boolean; sideOutputs: { path: string; data: string }[]; maps: RawSourceMap[] }
  | { ok: false; diagnostics: CellDiagnostic[] };

/** Quick info for inspect_request. */
export interface InspectInfo {
  signature: string;
  documentation: string;
  tags: { name: string; text: string }[];
}

/** Completion candidates with the replaced span (UTF-16 offsets) and each candidate's kind. */
export interface CompletionResult {
  start: number;
  end: number;
  candidates: string[];
  kinds: Record<string, string>;
}

/** is_complete's answer. */
export type CompletenessResult = { status: "complete" | "invalid" } | { status: "incomplete"; indent: string };

/** What the compiler worker serves. */
export interface CellCompiler {
  convert(prevDecl: string, src: string): CompileResult;
  inspect(prevDecl: string, src: string, position: number): InspectInfo | undefined;
  complete(prevDecl: string, src: string, position: number): CompletionResult;
  isComplete(src: string): CompletenessResult;
  /** The names a module exports (following its re-exports), found syntactically, less `skip`. */
  exportedNames(modulePath: string, skip: string[]): string[];
  typescriptVersion(): string;
}

type Converter = ReturnType<typeof import("tslab/dist/converter.js").createConverter>;

/** The converter's file names for the cell and for the declarations it is checked against. */
const CELL_FILE = "__tslab__.ts";
const DECLARATIONS_FILE = "__prev__.d.ts";

/** What the cell's emit reports back to `convert` (the converter's own callback is replaced with it). */
interface EmitState {
  lastExpressionVar?: string;
}

/** Creates the compiler; `resolveFrom` is a directory whose node_modules has tslab. */
export function createCellCompiler(resolveFrom: string): CellCompiler {
  const req = createRequire(join(resolveFrom, "compiler.js"));
  const ts = req("@tslab/typescript-for-tslab") as typeof TS;
  // Packages qlora-lab ships (vega-lite, arquero, tfjs) resolve even from a notebook outside the project.
  const ownModules = dirname(dirname(req.resolve("tslab/package.json")));
  const emitState: EmitState = {};
  const converterModule = loadConverter(req, patchedTypescript(ts, ownPackagePaths(ts, ownModules), emitState));
  // Two converters, so that neither program changes shape from cell to cell: one for cells that reach
  // only Node's and the kernel's own modules (tslab's size), one for cells that reach packages (the
  // library's ~900 files). A program switching between the two sizes rebuilt its structure each time.
  const plain: Converter = converterModule.createConverter({});
  let packages: Converter | undefined;
  const withPackages = () => (packages ??= converterModule.createConverter({}));
  const splitDeclarations = createDeclarationSplitter(ts);
  const kernelDir = resolve(resolveFrom);
  const isPlainModule = (specifier: string) => builtinModules.includes(specifier.replace(/^node:/, "")) || resolve(kernelDir, specifier).startsWith(`${kernelDir}/`);

  return {
    convert(prevDecl, src) {
      emitState.lastExpressionVar = undefined;
      const { reachable, unreachable, modules } = splitDeclarations(prevDecl, src);
      const converter = modules.every(isPlainModule) ? plain : withPackages();
      const result = converter.convert(reachable, src);
      if (result.diagnostics.length > 0) {
        const cellOnly = result.diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
        if (cellOnly.length > 0) {
          return {
            ok: false,
            diagnostics: cellOnly.map((d) => ({ line: d.start.line, character: d.start.character, endLine: d.end.line, endCharacter: d.end.character, message: d.messageText, code: d.code, fileName: d.fileName })),
          };
        }
      }
      const { code, maps } = extractInlineMaps(result.output ?? "");
      return {
        ok: true,
        js: code,
        declOutput: unreachable + (result.declOutput ?? reachable),
        lastExpressionVar: emitState.lastExpressionVar,
        hasToplevelAwait: result.hasToplevelAwait ?? false,
        sideOutputs: (result.sideOutputs ?? []).map((s) => ({ path: s.path, data: extractInlineMaps(s.data).code })),
        maps,
      };
    },
    inspect(prevDecl, src, position) {
      const info = withPackages().inspect(prevDecl, src, position);
      if (!info) return undefined;
      return {
        signature: ts.displayPartsToString(info.displayParts),
        documentation: ts.displayPartsToString(info.documentation),
        tags: (info.tags ?? []).map((t) => ({ name: t.name, text: ts.displayPartsToString(t.text) })),
      };
    },
    complete(prevDecl, src, position) {
      const info = withPackages().complete(prevDecl, src, position);
      const kinds: Record<string, string> = {};
      for (const entry of info.original?.entries ?? []) kinds[entry.name] = entry.kind;
      return { start: info.start, end: info.end, candidates: info.candidates, kinds };
    },
    isComplete(src) {
      return completeness(ts, converterModule, src);
    },
    exportedNames(modulePath, skip) {
      return [...new Set(exportedNames(ts, modulePath, new Set()))].filter((n) => !skip.includes(n));
    },
    typescriptVersion() {
      return ts.version;
    },
  };
}

/** A view of `typescript` with the converter's compiler options and watchers adjusted. */
function patchedTypescript(ts: typeof TS, paths: Record<string, string[]>, emitState: EmitState): typeof TS {
  const patched: Record<string, unknown> = {};
  for (const key of Object.keys(ts)) Object.defineProperty(patched, key, { get: () => (ts as unknown as Record<string, unknown>)[key], enumerable: true, configurable: true });
  const safe = <F extends (...args: never[]) => unknown>(callback: F): F =>
    ((...args: Parameters<F>) => {
      try {
        return callback(...args);
      } catch {
        // The converter rebuilds on the next cell anyway; a change seen mid-rebuild must not crash.
        return undefined;
      }
    }) as F;
  const sys = Object.create(ts.sys) as TS.System;
  sys.watchFile = (path, callback, interval, options) => ts.sys.watchFile!(path, safe(callback), interval, options);
  sys.watchDirectory = (path, callback, recursive, options) => ts.sys.watchDirectory!(path, safe(callback), recursive, options);
  Object.defineProperty(patched, "sys", { value: sys, enumerable: true });
  Object.defineProperty(patched, "createWatchCompilerHost", {
    value: (roots: string[], options: TS.CompilerOptions, system: TS.System, _createProgram: unknown, ...rest: unknown[]) =>
      (ts.createWatchCompilerHost as (...a: unknown[]) => unknown)(roots, { ...options, moduleResolution: ts.ModuleResolutionKind.Bundler, inlineSourceMap: true, types: ["node"], paths, suppressOutputPathCheck: true }, system, createProgramOnly(ts, emitState), ...rest),
    enumerable: true,
  });
  Object.defineProperty(patched, "transpileModule", {
    value: (input: string, options: TS.TranspileOptions): TS.TranspileOutput => {
      // The converter's ES module -> CommonJS step. A cell whose declarations all live on `exports` (see
      // cell_transform.ts) is usually a plain script already: then only the empty `export {};` goes
      // (blanked, so lines and the ES output's own source map stay valid) and no second program is made.
      const script = input.replace(/^export \{\};$/m, "");
      if (!/\b(?:import|export)\b/.test(script)) return { outputText: script, diagnostics: [] };
      return ts.transpileModule(input, { ...options, compilerOptions: { ...options.compilerOptions, inlineSourceMap: true } });
    },
    enumerable: true,
  });
  return patched as unknown as typeof TS;
}

/**
 * The watch program's "builder" as a plain Program. TypeScript's builder programs recompute every file's
 * references through the checker on each rebuild (most of a cell's compile time once the library's
 * ~900 declaration files are in the program); the converter only needs the program, emit, and the
 * cell's own source dependencies, computed here from the cell's resolved imports alone. The cell's emit
 * runs cellScopeTransformer in place of the converter's own rewrite (see cell_transform.ts).
 */
function createProgramOnly(ts: typeof TS, emitState: EmitState): TS.CreateProgram<TS.BuilderProgram> {
  const internal = ts as unknown as {
    getResolvedModule(file: TS.SourceFile, name: string, mode: TS.ResolutionMode): TS.ResolvedModuleFull | undefined;
    bindSourceFile(file: TS.SourceFile, options: TS.CompilerOptions): void;
  };
  const { getResolvedModule, bindSourceFile } = internal;
  return (rootNames, options, host, oldBuilder, configFileParsingDiagnostics, projectReferences) => {
    // Files a program stops using (the library's, when a cell is checked without it) stay in the watch
    // host's cache with their watchers, so switching back reuses them instead of parsing ~900 files again.
    const keepingHost = host && (Object.assign(Object.create(host) as TS.CompilerHost, { onReleaseOldSourceFile: undefined }) as TS.CompilerHost);
    const program = ts.createProgram({ rootNames: rootNames ?? [], options: options ?? {}, host: keepingHost, oldProgram: (oldBuilder as { getProgramOrUndefined?(): TS.Program | undefined } | undefined)?.getProgramOrUndefined?.(), configFileParsingDiagnostics, projectReferences });
    // The converter reads the cell's `locals`, which binding sets. Bind the cell alone: its first pass
    // (finding the names to export) needs nothing more, and the checker is made only when asked for.
    for (const root of rootNames ?? []) {
      const file = program.getSourceFile(root);
      if (file && !file.isDeclarationFile) bindSourceFile(file, program.getCompilerOptions());
    }
    /** The file and every source file it reaches through imports (declaration files end the walk). */
    const getAllDependencies = (file: TS.SourceFile): readonly string[] => {
      const seen = new Set<string>([file.fileName]);
      const queue = [file];
      for (let current = queue.pop(); current; current = queue.pop()) {
        if (current.isDeclarationFile) continue;
        for (const literal of (current as unknown as { imports: readonly TS.StringLiteralLike[] }).imports) {
          const resolved = getResolvedModule(current, literal.text, ts.getModeForUsageLocation(current, literal));
          const next = resolved && program.getSourceFile(resolved.resolvedFileName);
          if (next && !seen.has(next.fileName)) {
            seen.add(next.fileName);
            queue.push(next);
          }
        }
      }
      return [...seen];
    };
    const builder: TS.BuilderProgram = {
      getState: () => ({}) as never,
      getProgram: () => program,
      getProgramOrUndefined: () => program,
      releaseProgram: () => undefined,
      getCompilerOptions: () => program.getCompilerOptions(),
      getSourceFile: (fileName) => program.getSourceFile(fileName),
      getSourceFiles: () => program.getSourceFiles(),
      getOptionsDiagnostics: (token) => program.getOptionsDiagnostics(token),
      getGlobalDiagnostics: (token) => program.getGlobalDiagnostics(token),
      getConfigFileParsingDiagnostics: () => program.getConfigFileParsingDiagnostics(),
      getSyntacticDiagnostics: (file, token) => program.getSyntacticDiagnostics(file, token),
      getDeclarationDiagnostics: (file, token) => program.getDeclarationDiagnostics(file, token),
      getSemanticDiagnostics: (file, token) => program.getSemanticDiagnostics(file, token),
      emit: (file, writeFile, token, emitOnlyDts, transformers) => {
        if (!file || basename(file.fileName) !== CELL_FILE) return program.emit(file, writeFile, token, emitOnlyDts);
        const declarations = program.getSourceFile(join(dirname(file.fileName), DECLARATIONS_FILE));
        const after = cellScopeTransformer(ts, program.getTypeChecker(), { cell: file, declarations }, (name) => (emitState.lastExpressionVar = name));
        return program.emit(file, writeFile, token, emitOnlyDts, { after: [after], afterDeclarations: transformers?.afterDeclarations });
      },
      getAllDependencies,
      getCurrentDirectory: () => program.getCurrentDirectory(),
    } as TS.BuilderProgram;
    return builder;
  };
}

/**
 * `paths` entries pointing each of qlora-lab's own dependencies at its typings (resolved through its
 * "exports"), so `import * as vl from "vega-lite"` type-checks in a notebook anywhere on disk.
 */
function ownPackagePaths(ts: typeof TS, ownModules: string): Record<string, string[]> {
  const root = dirname(ownModules);
  const paths: Record<string, string[]> = {};
  try {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
    for (const name of Object.keys(pkg.dependencies ?? {})) {
      const resolved = ts.resolveModuleName(name, join(root, "__cell__.ts"), { moduleResolution: ts.ModuleResolutionKind.Bundler, module: ts.ModuleKind.ESNext }, ts.sys).resolvedModule;
      if (resolved) paths[name] = [resolved.resolvedFileName];
    }
  } catch {
    // No package.json next to node_modules: nothing to add.
  }
  return paths;
}

/** Loads tslab's converter.js with `require("@tslab/typescript-for-tslab")` answered by `ts`. */
function loadConverter(req: NodeJS.Require, ts: typeof TS): typeof import("tslab/dist/converter.js") {
  const path = req.resolve("tslab/dist/converter.js");
  const ModuleClass = Module as unknown as {
    new (id: string, parent?: unknown): { filename: string; paths: string[]; exports: unknown; require: (id: string) => unknown; _compile(code: string, filename: string): void };
    _nodeModulePaths(dir: string): string[];
    prototype: { require(this: unknown, id: string): unknown };
  };
  const mod = new ModuleClass(path);
  mod.filename = path;
  mod.paths = ModuleClass._nodeModulePaths(dirname(path));
  mod.require = (id: string) => (id === "@tslab/typescript-for-tslab" ? ts : ModuleClass.prototype.require.call(mod, id));
  mod._compile(readFileSync(path, "utf8"), path);
  return mod.exports as typeof import("tslab/dist/converter.js");
}

/** Parser-based completeness: errors at the very end mean "keep typing", others mean invalid. */
function completeness(ts: typeof TS, converterModule: typeof import("tslab/dist/converter.js"), src: string): CompletenessResult {
  if (src.trim() === "") return { status: "complete" };
  const file = ts.createSourceFile("cell.ts", src, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const diagnostics = (file as unknown as { parseDiagnostics: TS.DiagnosticWithLocation[] }).parseDiagnostics ?? [];
  if (diagnostics.length === 0) return { status: "complete" };
  const end = src.trimEnd().length;
  const atEnd = diagnostics.every((d) => d.start >= end || /^Unterminated/.test(ts.flattenDiagnosticMessageText(d.messageText, "\n")));
  if (atEnd) return { status: "incomplete", indent: converterModule.isCompleteCode(src).indent ?? "" };
  return { status: "invalid" };
}

/** Every name a module exports, following `export *` through relative files (syntax only, no checker). */
function exportedNames(ts: typeof TS, file: string, seen: Set<string>): string[] {
  if (seen.has(file) || !existsSync(file)) return [];
  seen.add(file);
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const names: string[] = [];
  const exported = (node: TS.Node) => (ts.canHaveModifiers(node) ? ts.getModifiers(node) ?? [] : []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement)) {
      const spec = statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier) ? statement.moduleSpecifier.text : undefined;
      if (!statement.exportClause && spec?.startsWith(".")) names.push(...exportedNames(ts, resolveTs(file, spec), seen));
      else if (statement.exportClause && ts.isNamespaceExport(statement.exportClause)) names.push(statement.exportClause.name.text);
      else if (statement.exportClause && ts.isNamedExports(statement.exportClause)) names.push(...statement.exportClause.elements.map((e) => e.name.text));
    } else if (exported(statement)) {
      if (ts.isVariableStatement(statement)) {
        for (const d of statement.declarationList.declarations) if (ts.isIdentifier(d.name)) names.push(d.name.text);
      } else if ((ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) || ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement) || ts.isEnumDeclaration(statement) || ts.isModuleDeclaration(statement)) && statement.name && ts.isIdentifier(statement.name)) {
        names.push(statement.name.text);
      }
    }
  }
  return names.filter((n) => n !== "default");
}

function resolveTs(from: string, spec: string): string {
  const base = resolve(dirname(from), spec);
  for (const candidate of [base.replace(/\.js$/, ".ts"), `${base}.ts`, join(base, "index.ts"), base]) if (existsSync(candidate)) return candidate;
  return base;
}
