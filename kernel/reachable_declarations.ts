// The part of the earlier cells' declarations a new cell can reach. A cell is type checked against the
// statements (and import bindings) declaring a name it mentions, and what those mention in turn; the
// rest (the library's import, with its ~900 files, whenever nothing reachable names the library) stays
// out of the cell's program and is put back in front of the cell's declaration output afterwards.
import type * as TS from "@tslab/typescript-for-tslab";

/** `reachable` goes to the checker with the cell; `unreachable` is kept as it is. */
export interface DeclarationSplit {
  reachable: string;
  unreachable: string;
  /** The modules the cell's program imports: those of the reachable declarations and the cell's own. */
  modules: string[];
}

/** One name-introducing part of the declarations: a whole statement, or one binding of an import. */
interface Unit {
  statement: number;
  declares: string[];
  /** What to scan for mentions (undefined: an import binding, which mentions nothing). */
  node: TS.Node | undefined;
  mentions?: Set<string>;
}

/** The parsed declarations, kept while the text stays the same (a cell that declares nothing). */
interface Parsed {
  text: string;
  file: TS.SourceFile;
  units: Unit[];
}

/**
 * Returns a function splitting `declarations` (a .d.ts text) by what `cell` reaches. Every identifier
 * counts as a mention, a property name too: the split may keep more than needed, never less. Statements
 * that declare no name (`declare global`, `export {}`) are always kept. An import is split by binding, so
 * the cell's program sees `import { quantize4bit }` rather than the prelude's hundreds of names.
 */
export function createDeclarationSplitter(ts: typeof TS): (declarations: string, cell: string) => DeclarationSplit {
  let last: Parsed | undefined;
  const parse = (text: string): Parsed => {
    if (last?.text === text) return last;
    const file = ts.createSourceFile("__declarations__.d.ts", text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const units = file.statements.flatMap((statement, index): Unit[] => {
      const bindings = splittableImport(ts, statement);
      if (bindings) return bindings.map((b) => ({ statement: index, declares: [b.name], node: undefined }));
      return [{ statement: index, declares: declaredNames(ts, statement), node: statement }];
    });
    return (last = { text, file, units });
  };

  return (declarations, cell) => {
    const { file, units } = parse(declarations);
    const cellFile = ts.createSourceFile("__cell__.ts", cell, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const needed = identifiersIn(ts, cellFile);
    const kept = new Set<Unit>();
    // Closure: keep what declares a needed name, then need what the kept units mention.
    for (let changed = true; changed; ) {
      changed = false;
      for (const unit of units) {
        if (kept.has(unit) || !(unit.declares.length === 0 || unit.declares.some((n) => needed.has(n)))) continue;
        kept.add(unit);
        changed = true;
        unit.mentions ??= unit.node ? identifiersIn(ts, unit.node) : new Set();
        for (const name of unit.mentions) needed.add(name);
      }
    }
    let reachable = "";
    let unreachable = "";
    const modules: string[] = [];
    file.statements.forEach((statement, index) => {
      const own = units.filter((u) => u.statement === index);
      const keptNames = new Set(own.filter((u) => kept.has(u)).flatMap((u) => u.declares));
      const whole = `${declarations.slice(statement.pos, statement.end).replace(/^\n+/, "")}\n`;
      if (own.every((u) => kept.has(u))) reachable += whole;
      else if (!own.some((u) => kept.has(u))) unreachable += whole;
      else {
        reachable += importOf(ts, file, statement as TS.ImportDeclaration, (name) => keptNames.has(name));
        unreachable += importOf(ts, file, statement as TS.ImportDeclaration, (name) => !keptNames.has(name));
      }
      if (own.some((u) => kept.has(u))) modules.push(...importedModule(ts, statement));
    });
    for (const statement of cellFile.statements) modules.push(...importedModule(ts, statement));
    return { reachable, unreachable, modules };
  };
}

/** The bindings of an import that can be split one by one (none for `import "x"` or imports with assertions). */
function splittableImport(ts: typeof TS, statement: TS.Statement): { name: string }[] | undefined {
  if (!ts.isImportDeclaration(statement) || !statement.importClause || statement.assertClause) return undefined;
  return declaredNames(ts, statement).map((name) => ({ name }));
}

/** The import statement with only the bindings whose local name passes `keep`. */
function importOf(ts: typeof TS, file: TS.SourceFile, statement: TS.ImportDeclaration, keep: (name: string) => boolean): string {
  const clause = statement.importClause!;
  const parts: string[] = [];
  if (clause.name && keep(clause.name.text)) parts.push(clause.name.text);
  const bindings = clause.namedBindings;
  if (bindings && ts.isNamespaceImport(bindings) && keep(bindings.name.text)) parts.push(`* as ${bindings.name.text}`);
  if (bindings && ts.isNamedImports(bindings)) {
    const named = bindings.elements.filter((e) => keep(e.name.text)).map((e) => e.getText(file));
    if (named.length > 0) parts.push(`{ ${named.join(", ")} }`);
  }
  return `import ${clause.isTypeOnly ? "type " : ""}${parts.join(", ")} from ${statement.moduleSpecifier.getText(file)};\n`;
}

/** The module an import statement names, if any. */
function importedModule(ts: typeof TS, statement: TS.Statement): string[] {
  const specifier = ts.isImportDeclaration(statement) ? statement.moduleSpecifier : ts.isImportEqualsDeclaration(statement) && ts.isExternalModuleReference(statement.moduleReference) ? statement.moduleReference.expression : undefined;
  return specifier && ts.isStringLiteral(specifier) ? [specifier.text] : [];
}

/** The names a top-level declaration statement introduces (none for global augmentations and exports). */
function declaredNames(ts: typeof TS, statement: TS.Statement): string[] {
  if (ts.isImportDeclaration(statement)) {
    const clause = statement.importClause;
    if (!clause) return [];
    const names = clause.name ? [clause.name.text] : [];
    const bindings = clause.namedBindings;
    if (bindings && ts.isNamespaceImport(bindings)) names.push(bindings.name.text);
    else if (bindings) names.push(...bindings.elements.map((e) => e.name.text));
    return names;
  }
  if (ts.isVariableStatement(statement)) return statement.declarationList.declarations.flatMap((d) => bindingNames(ts, d.name));
  if (ts.isImportEqualsDeclaration(statement)) return [statement.name.text];
  if (ts.isModuleDeclaration(statement)) return ts.isIdentifier(statement.name) && !(statement.flags & ts.NodeFlags.GlobalAugmentation) ? [statement.name.text] : [];
  const named = statement as TS.Statement & { name?: TS.Node };
  return named.name && ts.isIdentifier(named.name) ? [named.name.text] : [];
}

function bindingNames(ts: typeof TS, name: TS.BindingName): string[] {
  if (ts.isIdentifier(name)) return [name.text];
  return name.elements.flatMap((e) => (ts.isOmittedExpression(e) ? [] : bindingNames(ts, e.name)));
}

/** Every identifier's text below `node`. */
function identifiersIn(ts: typeof TS, node: TS.Node): Set<string> {
  const names = new Set<string>();
  const walk = (n: TS.Node): void => {
    if (ts.isIdentifier(n)) names.add(n.text);
    else ts.forEachChild(n, walk);
  };
  walk(node);
  return names;
}
