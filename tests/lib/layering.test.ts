// Every arrow in lib/ runs downward: a module imports only from its own layer or from layers beneath it,
// and no chain of imports (type imports included) comes back to where it started. The layers are the
// README's, from the ground up; this test reads the import statements themselves, so it needs nothing built.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const lib = fileURLToPath(new URL("../../lib/", import.meta.url));

/** lib/'s layers from the ground up; a module's layer is its folder's (or, at lib/'s top, its file's). */
const LAYERS: string[][] = [
  ["errors.ts", "validate.ts", "format.ts", "tf.ts"],
  ["io", "memory", "data"],
  ["ops"],
  ["quant"],
  ["optim"],
  ["model"],
  ["lora"],
  ["plan"],
  ["train"],
  ["viz"],
  ["recipe"],
  ["runtime.ts", "backend.ts"],
  ["ladder"],
  ["index.ts"],
];

function layerOf(file: string): number {
  const unit = file.includes("/") ? file.split("/")[0] : file;
  const layer = LAYERS.findIndex((names) => names.includes(unit));
  assert.notEqual(layer, -1, `lib/${file} belongs to no layer: add its folder to LAYERS and to the README's layout table`);
  return layer;
}

/** lib-relative paths of the modules `file` imports from lib/ (static, dynamic and type-only imports). */
function importsOf(file: string): string[] {
  const source = readFileSync(join(lib, file), "utf8");
  const specifiers = [...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm)].map((m) => m[1]);
  return specifiers.map((s) => normalize(join(dirname(file), s)).replace(/\.js$/, ".ts"));
}

const modules = readdirSync(lib, { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
  .sort();
const graph = new Map(modules.map((f) => [f, importsOf(f)]));

test("lib/ has a module in every layer and every import stays inside lib/", () => {
  assert.ok(modules.length > 100, `${modules.length} modules`);
  for (const [file, targets] of graph) {
    for (const target of targets) {
      assert.ok(!relative(lib, join(lib, target)).startsWith(".."), `lib/${file} imports ${target}, outside lib/ (the library never imports the kernel or the CLI)`);
      assert.ok(graph.has(target), `lib/${file} imports lib/${target}, which does not exist`);
    }
  }
});

test("every import in lib/ runs to the same layer or one beneath", () => {
  const upward: string[] = [];
  for (const [file, targets] of graph) {
    for (const target of targets) {
      if (layerOf(target) > layerOf(file)) upward.push(`lib/${file} -> lib/${target}`);
    }
  }
  assert.deepEqual(upward, [], `imports running up:\n${upward.join("\n")}`);
});

test("no import cycle in lib/, type imports included", () => {
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]): void => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
      return;
    }
    state.set(file, "open");
    for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
    state.set(file, "done");
  };
  for (const file of modules) visit(file, []);
  assert.deepEqual(cycles, [], `import cycles:\n${cycles.join("\n")}`);
});
