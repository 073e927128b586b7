// The part of the earlier cells' declarations a new cell can reach. A cell is type checked against the
// statements declaring a name it mentions, and what those mention in turn; the rest (the library's
// import line, with its ~900 files, whenever nothing reachable names the library) stays out of the
// cell's program and is put back in front of the cell's declaration output afterwards.
import type * as TS from "@tslab/typescript-for-tslab";

/** `reachable` goes to the checker with the cell; `unreachable` is kept as it is. */
export interface DeclarationSplit {
  reachable: string;
  unreachable: string;
  /** The modules the cell's program imports: those of the reachable declarations and the cell's own. */
  modules: string[];
}

/**
 * Splits `declarations` (a .d.ts text) by what `cell` reaches. Every identifier counts as a mention, a
 * property name too: the split may keep more than needed, never less. Statements that declare no name
 * (`declare global`, `export {}`) are always kept.
 */
export function splitDeclarations(ts: typeof TS, declarations: string, cell: string): DeclarationSplit {
  const file = ts.createSourceFile("__declarations__.d.ts", declarations, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const statements = file.statements.map((statement) => ({ statement, declares: declaredNames(ts, statement), mentions: undefined as Set<string> | undefined }));
  const cellFile = ts.createSourceFile("__cell__.ts", cell, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const needed = identifiersIn(ts, cellFile);
  const kept = new Set<number>();
  // Closure: keep what declares a needed name, then need what the kept statements mention.
  for (let changed = true; changed; ) {
    changed = false;
    statements.forEach((s, index) => {
      if (kept.has(index) || !(s.declares.length === 0 || s.declares.some((n) => needed.has(n)))) return;
      kept.add(index);
      changed = true;
      s.mentions ??= identifiersIn(ts, s.statement);
      for (const name of s.mentions) needed.add(name);
    });
  }
  const text = (indices: (i: number) => boolean) =>
    statements
      .filter((_, i) => indices(i))
      .map((s) => `${declarations.slice(s.statement.pos, s.statement.end).replace(/^\n+/, "")}\n`)
      .join("");
  const modules = [...cellFile.statements, ...statements.filter((_, i) => kept.has(i)).map((s) => s.statement)].flatMap((statement) => {
    const specifier = ts.isImportDeclaration(statement) ? statement.moduleSpecifier : ts.isImportEqualsDeclaration(statement) && ts.isExternalModuleReference(statement.moduleReference) ? statement.moduleReference.expression : undefined;
    return specifier && ts.isStringLiteral(specifier) ? [specifier.text] : [];
  });
  return { reachable: text((i) => kept.has(i)), unreachable: text((i) => !kept.has(i)), modules };
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
