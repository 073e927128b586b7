// Installs the kernelspec under a temporary prefix for tests that start the kernel through Jupyter.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The checkout's root directory. */
export const root = fileURLToPath(new URL("../../", import.meta.url));

/** Installs the kernelspec under a fresh prefix; returns the JUPYTER_PATH to use and a cleanup. */
export function installTemporaryKernel(): { jupyterPath: string; cleanup: () => void } {
  const prefix = mkdtempSync(join(tmpdir(), "qlora-lab-kernelspec-"));
  const result = spawnSync(process.execPath, [join(root, "bin/qlora-lab.js"), "install", "--prefix", prefix], { encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  return { jupyterPath: join(prefix, "share", "jupyter"), cleanup: () => rmSync(prefix, { recursive: true, force: true }) };
}

