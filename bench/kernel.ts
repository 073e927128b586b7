// Kernel start-up and latency, this kernel against tslab's own kernel, measured in one run:
// process start -> first kernel_info reply, -> first result of `6*7`, and a trivial cell's round trip,
// before and after a setup cell (for qlora-lab, one holding a library value, so its types are in play),
// and a cell that reads the setup cell's value (for qlora-lab, checked against the library's types).
// Then the compile step alone, in this process, in CPU time (less swayed by a busy machine than round
// trips): qlora-lab's cell compiler against tslab's converter on the same cells after the same setup.
// Run: node --import tsx bench/kernel.ts [rounds]
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { KernelClient } from "../client/kernel_client.js";
import { createCellCompiler } from "../kernel/compiler.js";
import { LIB_INDEX, TF_DECLARATION, importDeclaration } from "../kernel/prelude.js";

interface Figures {
  kernelInfoMs: number;
  firstResultMs: number;
  roundTripMs: number;
  /** The same trivial cell once an earlier cell holds a library value (its type names the library). */
  afterLibraryMs: number;
  /** A cell reading that value. */
  usesLibraryMs: number;
}

const rounds = Number(process.argv[2] ?? 30);
const root = fileURLToPath(new URL("../", import.meta.url));

async function measure(command: string[], connectionFlag: string, setup: string, use: string): Promise<Figures> {
  const started = performance.now();
  const client = await KernelClient.launch({ command, connectionFlag, stderr: "ignore", cwd: root });
  try {
    await client.waitReady(120_000, 50);
    const kernelInfoMs = performance.now() - started;
    // tslab prints the last expression to stdout instead of an execute_result: count either as "the result".
    const first = await client.execute("6*7");
    if (!first.iopub.some((m) => m.header.msg_type === "execute_result" || m.header.msg_type === "stream")) throw new Error("no result for 6*7");
    const firstResultMs = performance.now() - started;
    const median = async (cell: (i: number) => string): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const t = performance.now();
        const result = await client.execute(cell(i));
        times.push(performance.now() - t);
        if ((result.reply.content as { status?: string }).status !== "ok") throw new Error(`cell failed: ${cell(i)}`);
      }
      times.sort((a, b) => a - b);
      return times[Math.floor(times.length / 2)]!;
    };
    const roundTripMs = await median((i) => `${i} + 1`);
    const set = await client.execute(setup);
    if ((set.reply.content as { status?: string }).status !== "ok") throw new Error(`setup cell failed: ${setup}`);
    const afterLibraryMs = await median((i) => `${i} + 1`);
    return { kernelInfoMs, firstResultMs, roundTripMs, afterLibraryMs, usesLibraryMs: await median((i) => `${use} + ${i}`) };
  } finally {
    await client.shutdown(5000);
  }
}

// The setup cell: a library value for qlora-lab (later cells are checked against the library's types),
// a plain typed array for tslab (no library to load).
// The cell that uses it reads a number from it (the element count: the quantized tensor's size, the array's length).
const ours = await measure([process.execPath, fileURLToPath(new URL("../bin/qlora-lab.js", import.meta.url)), "kernel"], "--connection-file", "const q = quantize4bit(new Float32Array(64), [64]);", "q.size");
const tslab = await measure([process.execPath, fileURLToPath(new URL("../node_modules/tslab/bin/tslab", import.meta.url)), "kernel"], "--config-path", "const q = new Float32Array(64);", "q.length");
const row = (name: string, f: Figures) => `${name.padEnd(22)} ${f.kernelInfoMs.toFixed(0).padStart(8)} ${f.firstResultMs.toFixed(0).padStart(12)} ${f.roundTripMs.toFixed(1).padStart(12)} ${f.afterLibraryMs.toFixed(1).padStart(14)} ${f.usesLibraryMs.toFixed(1).padStart(14)}`;
console.log(`${"kernel".padEnd(22)} ${"info ms".padStart(8)} ${"first ms".padStart(12)} ${"trivial ms".padStart(12)} ${"after setup ms".padStart(14)} ${"uses setup ms".padStart(14)}  (medians of ${rounds})`);
console.log(row("qlora-lab (preloaded)", ours));
console.log(row("tslab 1.0.22", tslab));
const ratio = (key: keyof Figures) => (ours[key] / tslab[key]).toFixed(2);
console.log(`ratio qlora-lab / tslab: kernel_info ${ratio("kernelInfoMs")}x, first result ${ratio("firstResultMs")}x, trivial cell ${ratio("roundTripMs")}x, after setup ${ratio("afterLibraryMs")}x, uses setup ${ratio("usesLibraryMs")}x (below 1 = faster)`);

/** Median CPU milliseconds of one call of `compile` over the trivial cells, then over the cells using the setup value. */
function compileCpu(compile: (decl: string, cell: string) => { decl: string }, prelude: string, setup: string, use: string): { trivial: number; uses: number } {
  const decl = compile(prelude, setup).decl;
  const median = (cell: (i: number) => string) => {
    const times: number[] = [];
    for (let i = -5; i < rounds; i++) {
      const before = process.cpuUsage();
      compile(decl, cell(i));
      const spent = process.cpuUsage(before);
      if (i >= 0) times.push((spent.user + spent.system) / 1000);
    }
    return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  };
  return { trivial: median((i) => `${i} + 1`), uses: median((i) => `${use} + ${i}`) };
}

const ourCompiler = createCellCompiler(fileURLToPath(new URL("../kernel/", import.meta.url)));
const cellApi = fileURLToPath(new URL("../kernel/cell_api.ts", import.meta.url));
const ourPrelude = importDeclaration(ourCompiler.exportedNames(LIB_INDEX, ["tf"]), LIB_INDEX) + TF_DECLARATION + importDeclaration(ourCompiler.exportedNames(cellApi, []), cellApi);
const ourCompile = compileCpu((decl, cell) => {
  const result = ourCompiler.convert(decl, cell);
  if (!result.ok) throw new Error(`qlora-lab could not compile ${cell}: ${result.diagnostics[0]?.message}`);
  return { decl: result.declOutput };
}, ourPrelude, "const q = quantize4bit(new Float32Array(64), [64]);", "q.size");
const tslabConverter = (createRequire(import.meta.url)("tslab/dist/converter.js") as typeof import("tslab/dist/converter.js")).createConverter();
const tslabCompile = compileCpu((decl, cell) => {
  const result = tslabConverter.convert(decl, cell);
  if (result.diagnostics.length > 0) throw new Error(`tslab could not compile ${cell}: ${result.diagnostics[0]!.messageText}`);
  return { decl: result.declOutput ?? decl };
}, "", "const q = new Float32Array(64);", "q.length");
console.log(`compile only, CPU ms per cell (medians of ${rounds}): trivial cell after setup ${ourCompile.trivial.toFixed(1)} vs ${tslabCompile.trivial.toFixed(1)} (${(ourCompile.trivial / tslabCompile.trivial).toFixed(2)}x), cell using setup ${ourCompile.uses.toFixed(1)} vs ${tslabCompile.uses.toFixed(1)} (${(ourCompile.uses / tslabCompile.uses).toFixed(2)}x)`);
tslabConverter.close();
process.exit(0);
