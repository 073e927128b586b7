// What `require` and `import` mean inside a cell: local .ts modules the compiler emitted beside the cell
// first, then Node's resolution from the notebook's folder, falling back to the packages qlora-lab ships;
// CommonJS through require, ES modules (vega-lite, arquero) through import().
import Module, { builtinModules, createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { pathToFileURL } from "node:url";

/** Node's Module class as far as loading a compiled local module needs it. */
type ModuleConstructor = {
  new (id: string): { filename: string; paths: string[]; exports: unknown; require: (id: string) => unknown; _compile(code: string, f: string): void };
  _nodeModulePaths(dir: string): string[];
};

/** The modules cells load. */
export class CellModules {
  /** Compiled JavaScript of local .ts files a cell imported, by output path. */
  private readonly compiled = new Map<string, string>();
  private readonly loaded = new Map<string, unknown>();
  private readonly requireFromCwd: NodeJS.Require;
  /** The `require` cells call. */
  readonly require: NodeJS.Require;

  constructor(private readonly cwd: string) {
    this.requireFromCwd = withFallback(createRequire(join(cwd, "__cell__.js")), createRequire(import.meta.url));
    const base = this.requireFromCwd;
    const req = ((id: string) => this.requireLocal(id, cwd) ?? base(id)) as NodeJS.Require;
    this.require = Object.assign(req, { resolve: base.resolve, cache: base.cache, main: base.main, extensions: base.extensions });
  }

  /** Records the local modules a compile emitted; a changed file is loaded afresh next time. */
  addCompiled(outputs: readonly { path: string; data: string }[]): void {
    for (const { path, data } of outputs) {
      this.compiled.set(path, data);
      this.loaded.delete(path);
    }
  }

  /** A cell's `import`: builtins and CommonJS through require, ES modules through import(). */
  async import(spec: string): Promise<unknown> {
    if (spec.startsWith("node:") || builtinModules.includes(spec)) return this.requireFromCwd(spec);
    const local = this.requireLocal(spec, this.cwd);
    if (local !== undefined) return local;
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

  /** A compiled local module for a relative or absolute id, or undefined when the id is not one. */
  private requireLocal(id: string, fromDir: string): unknown {
    if (!id.startsWith(".") && !id.startsWith("/")) return undefined;
    let filename = join(fromDir, id);
    if (extname(filename) === "") filename += ".js";
    else if (filename.endsWith(".ts")) filename = filename.replace(/\.ts$/, ".js");
    if (this.loaded.has(filename)) return this.loaded.get(filename);
    const code = this.compiled.get(filename);
    if (code === undefined) return undefined;
    const ModuleClass = Module as unknown as ModuleConstructor;
    const mod = new ModuleClass(filename);
    mod.filename = filename;
    mod.paths = ModuleClass._nodeModulePaths(dirname(filename));
    const own = createRequire(filename);
    mod.require = (child: string) => this.requireLocal(child, dirname(filename)) ?? own(child);
    // Registered before it runs, so a cycle between local modules sees the partial exports as Node's would.
    this.loaded.set(filename, mod.exports);
    mod._compile(code, filename);
    this.loaded.set(filename, mod.exports);
    return mod.exports;
  }
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

/** True for a file Node loads as an ES module (.mjs, or .js under a package.json with "type": "module"). */
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
