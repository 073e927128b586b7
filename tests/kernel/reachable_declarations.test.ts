// Which earlier declarations a cell is checked against: hand-worked splits of a small declaration file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import type * as TS from "@tslab/typescript-for-tslab";
import { splitDeclarations } from "../../kernel/reachable_declarations.js";

const ts = createRequire(import.meta.url)("@tslab/typescript-for-tslab") as typeof TS;

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
  const split = splitDeclarations(ts, declarations, "1 + 1");
  assert.deepEqual(lines(split.reachable), ["declare global { interface Window { cells: number } }"]);
  assert.deepEqual(split.modules, []);
  assert.equal(lines(split.unreachable).length, lines(declarations).length - 1);
});

test("reaching a variable reaches its type's import, with its comment, and nothing else", () => {
  const split = splitDeclarations(ts, declarations, "q.size + 1");
  assert.deepEqual(lines(split.reachable), [lines(declarations)[0], "/** A quantized weight. */", "declare const q: QuantizedTensor;", "declare global { interface Window { cells: number } }"]);
  assert.deepEqual(split.modules, ["/lib/index"]);
});

test("reaching is transitive through types; the cell's own imports count as modules", () => {
  const split = splitDeclarations(ts, declarations, `import { readFileSync } from "node:fs";\nnorm({ x: n })`);
  assert.deepEqual(lines(split.reachable), ["declare const n = 5;", "interface Point { x: number; }", "declare function norm(p: Point): number;", "declare global { interface Window { cells: number } }"]);
  assert.deepEqual(split.modules, ["node:fs"]);
});

test("reachable and unreachable together hold every statement once", () => {
  for (const cell of ["", "tf.tensor([1])", "display(q)", "const n = 6; norm"]) {
    const { reachable, unreachable } = splitDeclarations(ts, declarations, cell);
    assert.deepEqual([...lines(reachable), ...lines(unreachable)].sort(), lines(declarations).sort(), cell);
  }
});
