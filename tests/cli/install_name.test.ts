// `qlora-lab install --name`: only names jupyter_client accepts (letters, digits, ".", "_", "-",
// lower-cased), never a path that leaves the kernels folder; Jupyter then lists what was written.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { jupyterPython, skipUnlessPythonModules } from "../helpers/jupyter.js";
import { kernelName } from "../../cli/install.js";
import { hasStackTrace, runCli, tempDir } from "./cli.js";

const dir = tempDir();
after(() => rmSync(dir, { recursive: true, force: true }));
const prefix = join(dir, "prefix");
const kernels = join(prefix, "share", "jupyter", "kernels");

test("names outside jupyter_client's rule are refused with one line and nothing is written", { timeout: 60_000 }, async () => {
  for (const name of ["../../escaped", "..", ".", "", "a b", "name/sub", "ünï"]) {
    const run = await runCli(["install", "--prefix", prefix, "--name", name], { limitS: 30 });
    assert.equal(run.status, 1, `${JSON.stringify(name)}: ${run.stdout}${run.stderr}`);
    assert.equal(hasStackTrace(run.stderr), false, run.stderr);
    assert.match(run.stderr, /^qlora-lab install: expected --name of letters, digits, "\.", "_" and "-" \(not dots alone\), as Jupyter requires, got ".*"\.\n$/);
  }
  assert.equal(existsSync(join(dir, "escaped")), false);
  assert.equal(existsSync(prefix), false, "nothing was written for a refused name");
});

test("an accepted name is lower-cased as jupyter_client does", () => {
  assert.equal(kernelName("QLoRA-Lab_2.1"), "qlora-lab_2.1");
});

test("jupyter kernelspec list finds the kernel under its lower-cased name", { timeout: 60_000, skip: skipUnlessPythonModules("jupyter_client") }, async () => {
  const run = await runCli(["install", "--prefix", prefix, "--name", "My.Lab_1"], { limitS: 30 });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(readdirSync(kernels), ["my.lab_1"]);
  const listed = spawnSync(jupyterPython, ["-c", "import json; from jupyter_client.kernelspec import KernelSpecManager as M; print(json.dumps(sorted(M().find_kernel_specs())))"], {
    encoding: "utf8",
    env: { ...process.env, JUPYTER_PATH: join(prefix, "share", "jupyter") },
    timeout: 30_000,
  });
  assert.equal(listed.status, 0, listed.stderr);
  assert.ok((JSON.parse(listed.stdout) as string[]).includes("my.lab_1"), listed.stdout);
});
