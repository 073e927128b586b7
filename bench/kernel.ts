// Kernel start-up and latency, this kernel against tslab's own kernel, measured in one run:
// process start -> first kernel_info reply, -> first result of `6*7`, and a trivial cell's round trip.
// Run: node --import tsx bench/kernel.ts [rounds]
import { fileURLToPath } from "node:url";
import { KernelClient } from "../kernel/client.js";

interface Figures {
  kernelInfoMs: number;
  firstResultMs: number;
  roundTripMs: number;
}

const rounds = Number(process.argv[2] ?? 30);
const root = fileURLToPath(new URL("../", import.meta.url));

async function measure(command: string[], connectionFlag: string): Promise<Figures> {
  const started = performance.now();
  const client = await KernelClient.launch({ command, connectionFlag, stderr: "ignore", cwd: root });
  try {
    await client.waitReady(120_000, 50);
    const kernelInfoMs = performance.now() - started;
    // tslab prints the last expression to stdout instead of an execute_result: count either as "the result".
    const first = await client.execute("6*7");
    if (!first.iopub.some((m) => m.header.msg_type === "execute_result" || m.header.msg_type === "stream")) throw new Error("no result for 6*7");
    const firstResultMs = performance.now() - started;
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t = performance.now();
      await client.execute(`${i} + 1`);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    return { kernelInfoMs, firstResultMs, roundTripMs: times[Math.floor(times.length / 2)]! };
  } finally {
    await client.shutdown(5000);
  }
}

const ours = await measure([process.execPath, fileURLToPath(new URL("../bin/qlora-lab.js", import.meta.url)), "kernel"], "--connection-file");
const tslab = await measure([process.execPath, fileURLToPath(new URL("../node_modules/tslab/bin/tslab", import.meta.url)), "kernel"], "--config-path");
const row = (name: string, f: Figures) => `${name.padEnd(22)} ${f.kernelInfoMs.toFixed(0).padStart(8)} ${f.firstResultMs.toFixed(0).padStart(12)} ${f.roundTripMs.toFixed(1).padStart(12)}`;
console.log(`${"kernel".padEnd(22)} ${"info ms".padStart(8)} ${"first ms".padStart(12)} ${"trivial ms".padStart(12)}  (median of ${rounds})`);
console.log(row("qlora-lab (preloaded)", ours));
console.log(row("tslab 1.0.22", tslab));
console.log(`ratio qlora-lab / tslab: kernel_info ${(ours.kernelInfoMs / tslab.kernelInfoMs).toFixed(2)}x, first result ${(ours.firstResultMs / tslab.firstResultMs).toFixed(2)}x, trivial cell ${(ours.roundTripMs / tslab.roundTripMs).toFixed(2)}x (below 1 = faster)`);
