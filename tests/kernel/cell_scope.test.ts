// Names shared across cells, through a real kernel: every top-level declaration of a cell lives on one
// scope, so later cells, earlier closures, shorthand properties and destructuring all see the same
// value (what a single script run top to bottom would do).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { KernelClient } from "../../client/kernel_client.js";
import { content, resultText } from "./kernel_results.js";

let client: KernelClient;
/** Runs cells in order and returns the text/plain result of the last one. */
async function run(...cells: string[]): Promise<string | undefined> {
  let last: string | undefined;
  for (const cell of cells) last = resultText(await client.execute(cell));
  return last;
}

before(async () => {
  client = await KernelClient.launch({ stderr: "pipe" });
  await client.waitReady(120_000);
});

after(async () => {
  await client?.shutdown();
});

test("a shorthand property names a value from an earlier cell, the same cell and the prelude", async () => {
  assert.equal(await run("const tok = 5", "({ tok, s: 1 })"), "{ tok: 5, s: 1 }");
  assert.equal(await run("const near = 2; ({ near, tok })"), "{ near: 2, tok: 5 }");
  assert.equal(await run("[1].map((t) => ({ t, tok }))"), "[ { t: 1, tok: 5 } ]");
  assert.equal(await run("({ quantize4bit, display }).quantize4bit === quantize4bit"), "true");
});

test("destructuring: defaults from an earlier cell, top-level patterns, assignment patterns with shorthand", async () => {
  assert.equal(await run("const { a = tok } = {} as { a?: number }; a"), "5");
  await run("let { p, r: [r0, ...rs] } = { p: 1, r: [1, 2, 3] };");
  assert.equal(await run("({ p } = { p: 9 }); [p, r0, rs]"), "[ 9, 1, [ 2, 3 ] ]");
  assert.equal(await run("let q = 0; ({ q = tok } = {} as { q?: number }); q"), "5");
});

test("a let reassigned in a later cell is what an earlier cell's closures see, and the other way round", async () => {
  await run("let x = 1; const getX = () => x; function incX() { return ++x; }");
  assert.equal(await run("x = 10; [x, getX()]"), "[ 10, 10 ]");
  assert.equal(await run("incX(); [x, getX()]"), "[ 11, 11 ]");
  await run("let ticks = 0; const tick = setInterval(() => ticks++, 5);");
  assert.equal(await run("await new Promise((r) => setTimeout(r, 100)); clearInterval(tick); ticks > 0"), "true");
  assert.equal(await run("let y = 2; const getY = () => y;", "let y = 'three'; getY()"), "'three'");
});

test("functions and classes: used, extended and redefined across cells; hoisted within one", async () => {
  await run("function h() { return 1; } const callH = () => h();");
  assert.equal(await run("callH()"), "1");
  assert.equal(await run("function h() { return 2; }", "callH()"), "2");
  await run("class Counter { static made = 0; n: number; constructor() { this.n = ++Counter.made; } }");
  assert.equal(await run("class Sub extends Counter { twice() { return 2 * this.n; } }", "new Counter().n + new Sub().twice()"), "5");
  assert.equal(await run("const four = twice(2); function twice(n: number) { return 2 * n; }", "four"), "4");
  assert.equal(await run("function fib(n: number): number { return n < 2 ? n : fib(n - 1) + fib(n - 2); } fib(10)"), "55");
  assert.equal(await run("enum Mode { Dense, Nf4 }", "Mode.Nf4"), "1");
});

test("tf's chained tensor methods type-check and run, on tensors from tf, from earlier cells and from the library", async () => {
  assert.equal(await run("tf.tensor([1, 2, 3]).square().add(1).sum().dataSync()[0]"), "17");
  assert.equal(await run("const v = tf.tensor([1, 2, 3]);", "v.mean().arraySync()"), "2");
  assert.equal(await run("v.as2D(3, 1).concat(tf.zeros([3, 1]), 1).transpose().shape"), "[ 2, 3 ]");
  assert.equal(await run("quantize4bit(new Float32Array(64).fill(1), [8, 8]).dequantize().sum().arraySync()"), "64");
});

test("a runtime error inside a declared function still names the cell's own line", async () => {
  const failed = await client.execute("let z = 1;\nfunction bad() {\n  throw new Error('no');\n}\nbad();");
  assert.equal(content(failed).ename, "Error");
  assert.ok((content(failed).traceback as string[]).some((l) => /In\[\d+\]:3:/.test(l)), String(content(failed).traceback));
  assert.equal(await run("z"), "1", "declarations made before a failure are kept");
});

test("declarations a cell does not reach are kept, with their types, for the cells after it", async () => {
  await run("const qt = quantize4bit(new Float32Array(64).fill(1), [64]);");
  assert.equal(await run("1 + 1", "interface Pt { x: number }", "const pt: Pt = { x: 2 }; pt.x"), "2");
  assert.equal(await run("qt.size + pt.x"), "66");
  const typed = await client.execute("const s: string = qt.size;");
  assert.equal(content(typed).ename, "TSError", "qt keeps its library type");
  assert.match(String(content(typed).evalue), /number.*string/);
});
