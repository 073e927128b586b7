// Which earlier declarations a cell is checked against: hand-worked splits of a small declaration file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import type * as TS from "@tslab/typescript-for-tslab";
import { createDeclarationSplitter } from "../../kernel/reachable_declarations.js";

const ts = createRequire(import.meta.url)("@tslab/typescript-for-tslab") as typeof TS;
const splitFor = createDeclarationSplitter(ts);

const declarations = [
  `import { quantize4bit, QuantizedTensor, loadModel } from "/lib/index";`,
  `import * as tf from "@tensorflow/tfjs-core";`,
  `import { display } from "/kernel/cell_api";`,
  `/** A quantized weight. */`,
  `declare const q: QuantizedTensor;`,
  `declare const n = 5;`,
  `interface Point { x: number; }`,
  `declare function norm(p: Point): number;`,
  `declare global { interface Window { cells: number } }`,
  ``,
].join("\n");
const lines = (text: string) => text.split("\n").filter(Boolean);

test("a cell naming nothing declared reaches only the statements that declare no name", () => {
  const split = splitFor(declarations, "1 + 1");
  assert.deepEqual(lines(split.reachable), ["declare global { interface Window { cells: number } }"]);
  assert.deepEqual(split.modules, []);
  assert.equal(lines(split.unreachable).length, lines(declarations).length - 1);
});

test("reaching a variable reaches its type's import binding, its comment, and nothing else", () => {
  const split = splitFor(declarations, "q.size + 1");
  assert.deepEqual(lines(split.reachable), [`import { QuantizedTensor } from "/lib/index";`, "/** A quantized weight. */", "declare const q: QuantizedTensor;", "declare global { interface Window { cells: number } }"]);
  assert.equal(lines(split.unreachable)[0], `import { quantize4bit, loadModel } from "/lib/index";`);
  assert.deepEqual(split.modules, ["/lib/index"]);
});

test("reaching is transitive through types; the cell's own imports count as modules", () => {
  const split = splitFor(declarations, `import { readFileSync } from "node:fs";\nnorm({ x: n })`);
  assert.deepEqual(lines(split.reachable), ["declare const n = 5;", "interface Point { x: number; }", "declare function norm(p: Point): number;", "declare global { interface Window { cells: number } }"]);
  assert.deepEqual(split.modules, ["node:fs"]);
});

test("reachable and unreachable together declare every name once, whatever the cell reaches", () => {
  const declared = (text: string) => {
    const file = ts.createSourceFile("d.d.ts", text, ts.ScriptTarget.Latest, true);
    const out: string[] = [];
    const walk = (node: TS.Node): void => {
      if ((ts.isImportSpecifier(node) || ts.isNamespaceImport(node) || ts.isVariableDeclaration(node) || ts.isInterfaceDeclaration(node) || ts.isFunctionDeclaration(node)) && node.name && ts.isIdentifier(node.name)) out.push(node.name.text);
      ts.forEachChild(node, walk);
    };
    walk(file);
    return out.sort();
  };
  for (const cell of ["", "tf.tensor([1])", "display(q)", "const n = 6; norm", "loadModel; quantize4bit"]) {
    const { reachable, unreachable } = splitFor(declarations, cell);
    assert.deepEqual(declared(reachable + unreachable), declared(declarations), cell);
  }
});

test("a split import keeps type-only and renamed bindings as written", () => {
  const { reachable, unreachable } = splitFor(`import type { A, B as Bee } from "./types";\nimport { c as sea, type D } from "./values";\n`, "const x: Bee = sea;");
  assert.deepEqual(lines(reachable), [`import type { B as Bee } from "./types";`, `import { c as sea } from "./values";`]);
  assert.deepEqual(lines(unreachable), [`import type { A } from "./types";`, `import { type D } from "./values";`]);
});
