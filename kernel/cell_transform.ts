// The cell's JavaScript as statements on one shared scope: every top-level `let`/`const`/`var`, function
// and class of a cell becomes a property of the kernel's `exports` object, and every reference to such a
// name (this cell's, an earlier cell's or the prelude's) reads that property. Closures from one cell
// then see reassignments made by later cells, a function or class redefined later replaces the old one
// for its callers, and shorthand properties (`{ tok }`) name the shared value. Runs as an `after`
// transformer on the cell's ES output (types already erased), resolving names through the checker.
import type * as TS from "@tslab/typescript-for-tslab";

/** The cell file and the declarations of earlier cells and the prelude it is checked against. */
export interface CellFiles {
  cell: TS.SourceFile;
  declarations: TS.SourceFile | undefined;
}

/** Prefix of the variable holding a cell's last expression (tslab's name, kept for familiarity). */
const LAST_EXPRESSION = "tsLastExpr";

/**
 * The transformer for one cell's emit. `onLastExpression` receives the name under which the value of
 * the cell's final expression statement is stored on `exports` (none when the cell ends otherwise).
 */
export function cellScopeTransformer(ts: typeof TS, checker: TS.TypeChecker, files: CellFiles, onLastExpression: (name: string) => void): TS.TransformerFactory<TS.SourceFile> {
  const f = ts.factory;
  const { moved, convertible } = sharedDeclarations(ts, checker, files.cell);
  const movedNames = new Set([...moved].map((s) => s.escapedName as string));

  /** True when a reference to `symbol` must read the shared `exports` object. */
  const isShared = (symbol: TS.Symbol | undefined, excluded: ReadonlySet<TS.Symbol>): boolean => {
    if (!symbol || excluded.has(symbol)) return false;
    if (moved.has(symbol)) return true;
    return files.declarations !== undefined && (symbol.declarations ?? []).some((d) => d.getSourceFile() === files.declarations);
  };
  const exportsRef = (name: string, range?: TS.TextRange): TS.PropertyAccessExpression => {
    const access = f.createPropertyAccessExpression(f.createIdentifier("exports"), f.createIdentifier(name));
    return range ? ts.setTextRange(access, range) : access;
  };

  return (context) => {
    /** Rewrites references below `node`; `excluded` are names bound locally there (a class's or function's own name). */
    const visitorFor = (excluded: ReadonlySet<TS.Symbol>): TS.Visitor => {
      const visit: TS.Visitor = (node) => {
        if (ts.isIdentifier(node)) {
          const original = ts.getParseTreeNode(node);
          if (!original || !isReference(ts, original)) return node;
          return isShared(checker.getSymbolAtLocation(original), excluded) ? exportsRef(ts.idText(node), original) : node;
        }
        if (ts.isShorthandPropertyAssignment(node)) {
          // `{ tok }` and `({ tok } = o)`: the name is a property there, its value the shared variable.
          const original = ts.getParseTreeNode(node);
          const symbol = original && ts.isShorthandPropertyAssignment(original) ? checker.getShorthandAssignmentValueSymbol(original) : undefined;
          if (!isShared(symbol, excluded)) return ts.visitEachChild(node, visit, context);
          const name = ts.idText(node.name);
          const target = exportsRef(name, node.name);
          const initializer = node.objectAssignmentInitializer && (ts.visitNode(node.objectAssignmentInitializer, visit) as TS.Expression);
          return ts.setTextRange(f.createPropertyAssignment(f.createIdentifier(name), initializer ? f.createAssignment(target, initializer) : target), node);
        }
        return ts.visitEachChild(node, visit, context);
      };
      return visit;
    };
    const visit = visitorFor(new Set());
    const visitExpression = (e: TS.Expression, v: TS.Visitor = visit) => ts.visitNode(e, v) as TS.Expression;

    /** A binding name as an assignment target on `exports` (`{ a, b: [c] }` -> `{ a: exports.a, b: [exports.c] }`). */
    const toTarget = (name: TS.BindingName): TS.Expression => {
      if (ts.isIdentifier(name)) return exportsRef(ts.idText(name), name);
      if (ts.isObjectBindingPattern(name)) {
        return f.createObjectLiteralExpression(
          name.elements.map((element) => {
            if (element.dotDotDotToken) return f.createSpreadAssignment(toTarget(element.name));
            const target = withDefault(toTarget(element.name), element.initializer);
            const key = element.propertyName
              ? ts.isComputedPropertyName(element.propertyName)
                ? f.createComputedPropertyName(visitExpression(element.propertyName.expression))
                : element.propertyName
              : f.createIdentifier(ts.idText(element.name as TS.Identifier));
            return f.createPropertyAssignment(key, target);
          }),
        );
      }
      return f.createArrayLiteralExpression(
        name.elements.map((element) => {
          if (ts.isOmittedExpression(element)) return element;
          if (element.dotDotDotToken) return f.createSpreadElement(toTarget(element.name));
          return withDefault(toTarget(element.name), element.initializer);
        }),
      );
    };
    const withDefault = (target: TS.Expression, initializer: TS.Expression | undefined) => (initializer ? f.createAssignment(target, visitExpression(initializer)) : target);

    /** `let a = 1, { b } = o;` -> `exports.a = 1; ({ b: exports.b } = o);` (`var a;` keeps a value a cell gave `a` before). */
    const convertVariables = (statement: TS.VariableStatement): TS.Statement[] => {
      const isVar = (statement.declarationList.flags & ts.NodeFlags.BlockScoped) === 0;
      const out: TS.Statement[] = [];
      for (const declaration of statement.declarationList.declarations) {
        if (!declaration.initializer && (isVar || !ts.isIdentifier(declaration.name))) continue;
        const value = declaration.initializer ? visitExpression(declaration.initializer) : f.createVoidZero();
        out.push(ts.setTextRange(f.createExpressionStatement(f.createAssignment(toTarget(declaration.name), value)), declaration));
      }
      return out;
    };

    /** `function f() {}` -> `exports.f = function f() {}`; inside, `f` stays the function's own binding. */
    const convertFunction = (node: TS.FunctionDeclaration, symbol: TS.Symbol): TS.Statement => {
      const inner = visitorFor(new Set([symbol]));
      const expression = f.createFunctionExpression(
        node.modifiers?.filter((m) => m.kind === ts.SyntaxKind.AsyncKeyword) as TS.Modifier[] | undefined,
        node.asteriskToken,
        node.name,
        undefined,
        ts.visitNodes(node.parameters, inner) as TS.NodeArray<TS.ParameterDeclaration>,
        undefined,
        ts.visitNode(node.body!, inner) as TS.Block,
      );
      return ts.setTextRange(f.createExpressionStatement(f.createAssignment(exportsRef(ts.idText(node.name!)), ts.setTextRange(expression, node))), node);
    };

    /** `class C {}` -> `exports.C = class C {}`; inside, `C` stays the class's own binding (static initializers). */
    const convertClass = (node: TS.ClassDeclaration, symbol: TS.Symbol): TS.Statement => {
      const inner = visitorFor(new Set([symbol]));
      const expression = f.createClassExpression(
        undefined,
        node.name,
        undefined,
        ts.visitNodes(node.heritageClauses, inner) as TS.NodeArray<TS.HeritageClause> | undefined,
        ts.visitNodes(node.members, inner) as TS.NodeArray<TS.ClassElement>,
      );
      return ts.setTextRange(f.createExpressionStatement(f.createAssignment(exportsRef(ts.idText(node.name!)), ts.setTextRange(expression, node))), node);
    };

    return (file) => {
      if (ts.getOriginalNode(file) !== files.cell) return file;
      const statements = [...file.statements];
      const lastIndex = findLastExpression(ts, statements);
      const hoisted: TS.Statement[] = [];
      const body: TS.Statement[] = [];
      statements.forEach((statement, index) => {
        const original = ts.getOriginalNode(statement);
        if (index === lastIndex) {
          const name = lastExpressionName(files.cell);
          onLastExpression(name);
          const expression = visitExpression((statement as TS.ExpressionStatement).expression);
          body.push(ts.setTextRange(f.createExpressionStatement(f.createAssignment(exportsRef(name), expression)), statement));
        } else if (convertible.has(original) && ts.isVariableStatement(statement)) {
          body.push(...convertVariables(statement));
        } else if (convertible.has(original) && ts.isFunctionDeclaration(statement)) {
          hoisted.push(convertFunction(statement, convertible.get(original)!));
        } else if (convertible.has(original) && ts.isClassDeclaration(statement)) {
          body.push(convertClass(statement, convertible.get(original)!));
        } else if (ts.isExportDeclaration(statement) && !statement.moduleSpecifier && statement.exportClause && ts.isNamedExports(statement.exportClause)) {
          // The converter's `export { every local }`: names now living on `exports` leave it.
          const kept = statement.exportClause.elements.filter((e) => !movedNames.has(ts.idText(e.propertyName ?? e.name)));
          body.push(f.updateExportDeclaration(statement, statement.modifiers, statement.isTypeOnly, f.updateNamedExports(statement.exportClause, kept), undefined, statement.assertClause));
        } else {
          body.push(ts.visitNode(statement, visit) as TS.Statement);
        }
      });
      return f.updateSourceFile(file, [...hoisted, ...body]);
    };
  };
}

/**
 * The cell's top-level declarations that move to `exports`: variables, functions with a body and classes
 * without decorators, each only when every declaration of its name is of those kinds (a function merged
 * with a namespace, or an enum, keeps the compiler's own emit).
 */
function sharedDeclarations(ts: typeof TS, checker: TS.TypeChecker, cell: TS.SourceFile): { moved: Set<TS.Symbol>; convertible: Map<TS.Node, TS.Symbol> } {
  const moved = new Set<TS.Symbol>();
  const convertible = new Map<TS.Node, TS.Symbol>();
  const topLevel = new Set<TS.Node>(cell.statements);
  // `declare` emits nothing; `export` in a cell is refused by the converter already.
  const isAmbient = (node: TS.Node) => ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.DeclareKeyword || m.kind === ts.SyntaxKind.ExportKeyword);
  const movable = (symbol: TS.Symbol) =>
    (symbol.declarations ?? []).every((d) => {
      if (ts.isInterfaceDeclaration(d) || ts.isTypeAliasDeclaration(d)) return true;
      if (ts.isFunctionDeclaration(d) || ts.isClassDeclaration(d)) return topLevel.has(d);
      const statement = ts.findAncestor(d, ts.isVariableStatement);
      return (ts.isVariableDeclaration(d) || ts.isBindingElement(d)) && statement !== undefined && topLevel.has(statement);
    });
  const names = (name: TS.BindingName): TS.Identifier[] => (ts.isIdentifier(name) ? [name] : name.elements.flatMap((e) => (ts.isOmittedExpression(e) ? [] : names(e.name))));
  for (const statement of cell.statements) {
    if (isAmbient(statement)) continue;
    if (ts.isVariableStatement(statement)) {
      const symbols = statement.declarationList.declarations.flatMap((d) => names(d.name)).map((n) => checker.getSymbolAtLocation(n));
      if (symbols.length === 0 || !symbols.every((s): s is TS.Symbol => s !== undefined && movable(s))) continue;
      for (const s of symbols) moved.add(s);
      convertible.set(statement, symbols[0]);
    } else if ((ts.isFunctionDeclaration(statement) && statement.body) || (ts.isClassDeclaration(statement) && !ts.getDecorators(statement)?.length)) {
      const symbol = statement.name && checker.getSymbolAtLocation(statement.name);
      if (!symbol || !movable(symbol)) continue;
      moved.add(symbol);
      convertible.set(statement, symbol);
    }
  }
  return { moved, convertible };
}

/**
 * An identifier that can name a variable. Property names, labels and declaration names resolve to other
 * symbols anyway; these are the positions where a variable's symbol comes back but a rewrite is wrong.
 */
function isReference(ts: typeof TS, node: TS.Node): boolean {
  const parent = node.parent;
  if (!parent) return false;
  if ((ts.isPropertyAccessExpression(parent) && parent.name === node) || (ts.isQualifiedName(parent) && parent.right === node)) return false;
  if (ts.isShorthandPropertyAssignment(parent) && parent.name === node) return false;
  return !(ts.isImportSpecifier(parent) || ts.isExportSpecifier(parent) || ts.isImportClause(parent) || ts.isNamespaceImport(parent) || ts.isImportEqualsDeclaration(parent));
}

/** Index of the cell's final expression statement (its value is the cell's result), or -1. */
function findLastExpression(ts: typeof TS, statements: readonly TS.Statement[]): number {
  for (let i = statements.length - 1; i >= 0; i--) {
    const statement = statements[i]!;
    if (ts.isExportDeclaration(statement)) continue;
    return ts.isExpressionStatement(statement) ? i : -1;
  }
  return -1;
}

/** `tsLastExpr`, or `tsLastExpr0`, ... when the cell declares that name itself. */
function lastExpressionName(cell: TS.SourceFile): string {
  const locals = (cell as unknown as { locals?: Map<string, unknown> }).locals;
  if (!locals?.has(LAST_EXPRESSION)) return LAST_EXPRESSION;
  for (let i = 0; ; i++) if (!locals.has(`${LAST_EXPRESSION}${i}`)) return `${LAST_EXPRESSION}${i}`;
}
