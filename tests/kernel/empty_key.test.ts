// A connection file with an empty key turns message signing off (Jupyter's rule); the kernel must say
// so in its log rather than run unsigned without a word.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { newConnectionInfo, writeConnectionFile } from "../../kernel/connection.js";

const cli = fileURLToPath(new URL("../../bin/qlora-lab.js", import.meta.url));

test("a kernel started with an empty key says in its log that messages are not signed", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-key-"));
  const file = join(dir, "kernel.json");
  await writeConnectionFile(file, { ...(await newConnectionInfo()), key: "" });
  const kernel = spawn(process.execPath, [cli, "kernel", "--connection-file", file], { stdio: ["ignore", "ignore", "pipe"] });
  try {
    let log = "";
    const found = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 90_000);
      kernel.stderr.on("data", (chunk: Buffer) => {
        log += chunk.toString();
        if (/key is empty, so messages are not signed/.test(log)) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      kernel.on("exit", () => resolve(false));
    });
    assert.ok(found, `the kernel's log said nothing about the empty key:\n${log}`);
  } finally {
    kernel.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});
