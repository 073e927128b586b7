// The library's files changing while the kernel runs (an editor saving lib/ mid-lesson): earlier cells'
// declarations and their library types survive. The kernel runs from a copy of the sources, so the
// checkout's lib/ is never touched.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KernelClient } from "../../client/kernel_client.js";
import { content, resultText } from "./kernel_results.js";
import { root } from "./kernelspec.js";

let copy: string;
let client: KernelClient;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  copy = mkdtempSync(join(tmpdir(), "qlora-lab-libchange-"));
  for (const entry of ["bin", "cli", "kernel", "lib", "package.json", "tsconfig.json"]) cpSync(join(root, entry), join(copy, entry), { recursive: true });
  symlinkSync(join(root, "node_modules"), join(copy, "node_modules"), "dir");
  client = await KernelClient.launch({ command: [process.execPath, join(copy, "bin/qlora-lab.js"), "kernel"], cwd: copy, stderr: "pipe" });
  await client.waitReady(120_000);
});

after(async () => {
  await client?.shutdown();
  if (copy) rmSync(copy, { recursive: true, force: true });
});

test("lib/ saved and broken while a cell runs: earlier declarations and their types are kept", { timeout: 120_000 }, async () => {
  resultText(await client.execute("const q = quantize4bit(new Float32Array(64).fill(1), [64]); let keep = 42; interface Mine { a: number }"));
  const tensorFile = join(copy, "lib/quant/quantized_tensor.ts");
  const indexFile = join(copy, "lib/index.ts");
  const index = readFileSync(indexFile, "utf8");
  const running = client.execute("await new Promise((r) => setTimeout(r, 2000)); keep");
  await sleep(500);
  // An editor's atomic save of one file, and the library's entry point left broken mid-edit.
  writeFileSync(`${tensorFile}.tmp`, `${readFileSync(tensorFile, "utf8")}\n// saved again\n`);
  renameSync(`${tensorFile}.tmp`, tensorFile);
  writeFileSync(indexFile, "export * from ./unfinished");
  assert.equal(resultText(await running), "42");
  assert.equal(resultText(await client.execute("const m: Mine = { a: 1 }; keep + q.size + m.a")), "107");
  writeFileSync(indexFile, index);
  await sleep(1500);
  assert.equal(resultText(await client.execute("keep + q.size")), "106");
  const typed = await client.execute("const s: string = q.size;");
  assert.equal(content(typed).ename, "TSError", "q keeps its library type once the library is whole again");
});
