// Importing the library or the kernel changes nothing global: in a fresh process, each module of lib/
// and kernel/ is imported in turn, and after each one tf.Tensor.prototype, TF.js's gradient and kernel
// registries and its backends, globalThis's own names and vega's text measurement are compared with
// what they were before it (at first: after importing tfjs-core and vega alone). Then installRuntime installs what it says.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
/** Worker threads' and child processes' programs: running on import is what they are for (kernel/transport.ts and compiler_client.ts start the workers, lib/ladder/ladder.ts the ladder's rungs). */
const WORKER_PROGRAMS = new Set(["kernel/compiler_worker.ts", "kernel/transport_worker.ts", "lib/ladder/child.ts"]);

function modulesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .map((f) => relative(root, join(root, dir, f)))
    .filter((f) => !WORKER_PROGRAMS.has(f))
    .sort();
}

/** The child's program: a snapshot, then one import at a time, each followed by the snapshot's differences. */
const PROGRAM = `
import * as tf from "@tensorflow/tfjs-core";
import * as vega from "vega";
const globals = () => globalThis._tfGlobals;
const snapshot = () => ({
  prototype: Object.getOwnPropertyNames(tf.Tensor.prototype).sort(),
  gradients: [...globals().get("gradRegistry").keys()].sort(),
  kernels: [...globals().get("kernelRegistry").keys()].sort(),
  backends: Object.keys(tf.engine().registryFactory).sort(),
  globalThis: Object.getOwnPropertyNames(globalThis).sort(),
  textWidth: vega.textMetrics.width,
});
const differences = (a, b) => {
  const out = {};
  for (const key of Object.keys(a)) {
    if (key === "textWidth") { if (a[key] !== b[key]) out[key] = "vega.textMetrics.width replaced"; continue; }
    const added = b[key].filter((x) => !a[key].includes(x));
    const removed = a[key].filter((x) => !b[key].includes(x));
    if (added.length || removed.length) out[key] = { added: added.slice(0, 5), removed: removed.slice(0, 5), count: added.length + removed.length };
  }
  return out;
};
const base = snapshot();
let before = base;
const report = {};
for (const file of JSON.parse(process.env.MODULES)) {
  try {
    await import(new URL(file, process.env.ROOT_URL).href);
  } catch (error) {
    report[file] = { failedToImport: String(error.message).split("\\n")[0] };
    continue;
  }
  const now = snapshot();
  const found = differences(before, now);
  before = now;
  if (Object.keys(found).length) report[file] = found;
}
const { installRuntime } = await import(new URL("lib/runtime.ts", process.env.ROOT_URL).href);
const first = installRuntime();
const installed = differences(base, snapshot());
const second = installRuntime();
process.stdout.write(JSON.stringify({ report, imported: JSON.parse(process.env.MODULES).length, first, second, installed, prototypeMethods: tf.Tensor.prototype.square !== undefined }));
`;

test("no module of lib/ or kernel/ changes global state when imported; installRuntime installs once and says what it did", { timeout: 180_000 }, () => {
  const modules = [...modulesUnder("lib"), ...modulesUnder("kernel")];
  assert.ok(modules.length > 120, `${modules.length} modules found`);
  const output = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", PROGRAM], {
    cwd: root,
    env: { ...process.env, MODULES: JSON.stringify(modules), ROOT_URL: new URL("../../", import.meta.url).href, QLORA_LAB_BACKEND: "" },
    encoding: "utf8",
    maxBuffer: 16 << 20,
  });
  const result = JSON.parse(output) as {
    report: Record<string, unknown>;
    imported: number;
    first: { chainedMethodsAdded: number; gradientsRegistered: number; wasmKernels: Record<string, boolean> };
    second: { chainedMethodsAdded: number; gradientsRegistered: number; wasmKernels: Record<string, boolean> };
    installed: Record<string, { count: number } | string>;
    prototypeMethods: boolean;
  };
  assert.equal(result.imported, modules.length);
  assert.deepEqual(result.report, {}, "modules whose import changed global state (or failed)");
  // What installRuntime does, counted independently: tfjs-core's chained-op files and tfjs' gradient list.
  assert.ok(result.first.chainedMethodsAdded > 130, `${result.first.chainedMethodsAdded} chained methods added`);
  assert.ok(result.first.gradientsRegistered > 90, `${result.first.gradientsRegistered} gradients registered`);
  assert.equal((result.installed.prototype as { count: number }).count, result.first.chainedMethodsAdded);
  assert.equal((result.installed.gradients as { count: number }).count, result.first.gradientsRegistered);
  assert.deepEqual(Object.keys(result.installed).sort(), ["gradients", "prototype"], "installRuntime touches the prototype and the gradient registry only");
  assert.ok(result.prototypeMethods);
  assert.ok(Object.values(result.first.wasmKernels).every(Boolean), `every WebAssembly kernel compiles on Node 20: ${JSON.stringify(result.first.wasmKernels)}`);
  assert.deepEqual(result.second, { ...result.first, chainedMethodsAdded: 0, gradientsRegistered: 0 }, "a second call adds nothing");
});
