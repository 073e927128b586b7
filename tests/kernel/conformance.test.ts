// Jupyter's own conformance suite (Debian's python3-jupyter-kernel-test) against the installed kernel.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { jupyterPython, skipUnlessPythonModules } from "../helpers/jupyter.js";
import { installTemporaryKernel, root } from "./kernelspec.js";

test("the kernelspec names this node, message interrupts and the logos", () => {
  const { jupyterPath, cleanup } = installTemporaryKernel();
  try {
    const spec = JSON.parse(readFileSync(join(jupyterPath, "kernels", "qlora-lab", "kernel.json"), "utf8"));
    assert.equal(spec.argv[0], process.execPath);
    assert.deepEqual(spec.argv.slice(2), ["kernel", "--connection-file", "{connection_file}"]);
    assert.equal(spec.interrupt_mode, "message");
    assert.equal(spec.display_name, "TypeScript (QLoRA Lab)");
    assert.equal(spec.language, "typescript");
    for (const logo of ["logo-32x32.png", "logo-64x64.png"]) {
      const png = readFileSync(join(jupyterPath, "kernels", "qlora-lab", logo));
      assert.equal(png.subarray(1, 4).toString("latin1"), "PNG");
    }
  } finally {
    cleanup();
  }
});

test("jupyter_kernel_test passes every test with every attribute set", { skip: skipUnlessPythonModules("jupyter_kernel_test", "jupyter_client") }, () => {
  const { jupyterPath, cleanup } = installTemporaryKernel();
  try {
    const result = spawnSync(jupyterPython, ["-m", "unittest", "-v", "tests/kernel/conformance.py"], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, JUPYTER_PATH: jupyterPath },
      timeout: 600_000,
    });
    const output = `${result.stdout}\n${result.stderr}`;
    assert.equal(result.status, 0, output);
    assert.match(output, /Ran 12 tests/);
    assert.doesNotMatch(output, /skipped/i, "every conformance test must run (no attribute left unset)");
  } finally {
    cleanup();
  }
});
