// When the library loads, and which cells wait for it. The library (TF.js, its backend, ~900 files of
// types) takes seconds; a first cell that names none of it should not wait. So the library's values load
// once the compiler is up and a first cell that needs no library has compiled (or half a second later,
// or at once for a cell that names it): on two busy cores, loading both at the same time made each take
// as long as the two one after the other.
import type { AsyncCellCompiler } from "./compiler_client.js";
import { loadLibraryValues } from "./prelude.js";

export class LibraryGate {
  private readonly names: Set<string>;
  private readonly values: Promise<Record<string, unknown>>;
  private open: () => void = () => undefined;
  private compiling = false;
  private typesWarm: Promise<void> | undefined;

  /** `libraryNames`: what cells see from the library; `warnings` collects load failures for the next cell. */
  constructor(
    private readonly compiler: AsyncCellCompiler,
    libraryNames: readonly string[],
    warnings: string[],
  ) {
    this.names = new Set(libraryNames);
    const gate = new Promise<void>((resolve) => (this.open = resolve));
    void compiler.ready.then(() => setTimeout(() => void (this.compiling ? undefined : this.open()), 500).unref(), () => this.open());
    this.values = gate.then(() => loadLibraryValues(warnings));
    this.values.catch(() => undefined);
  }

  /** The library's values, once loaded. */
  loaded(): Promise<Record<string, unknown>> {
    return this.values;
  }

  /** True when `code` names something the library provides: the library starts loading now. */
  namedBy(code: string): boolean {
    const names = identifiers(code).some((name) => this.names.has(name));
    if (names) this.open();
    return names;
  }

  /** Brackets a compile, so the library does not start loading in the middle of a first cell's. */
  async whileCompiling<T>(compile: () => Promise<T>): Promise<T> {
    this.compiling = true;
    try {
      return await compile();
    } finally {
      this.compiling = false;
      this.open();
    }
  }

  /** Waits for the library's values when compiled code reads one of them (plain cells need not wait). */
  async before(js: string): Promise<void> {
    this.open();
    for (const match of js.matchAll(/\bexports\.([A-Za-z_$][\w$]*)/g)) if (this.names.has(match[1]!)) await this.values;
  }

  /** Type-checks a cell naming the library and `tf` once, so the library's types are loaded before a cell needs them. */
  warmTypes(declarations: string): Promise<void> {
    const libraryName = [...this.names].find((name) => name !== "tf") ?? "";
    this.typesWarm ??= this.compiler.convert(declarations, `tf; ${libraryName};`).then(() => undefined, () => undefined);
    return this.typesWarm;
  }
}

function identifiers(text: string): string[] {
  return [...text.matchAll(/[A-Za-z_$][\w$]*/g)].map((m) => m[0]);
}
