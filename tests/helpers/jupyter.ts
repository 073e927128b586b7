// Finds Jupyter's real Python clients (Debian's python3-jupyter-client and friends) for tests.
// Where they are missing a test skips, unless CI=true or QLORA_LAB_REQUIRE_JUPYTER=1 make it fail.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** The Python that has Debian's Jupyter packages (QLORA_LAB_PYTHON overrides). */
export const jupyterPython = process.env.QLORA_LAB_PYTHON ?? (existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");

/** True when a missing Jupyter client must fail the test rather than skip it. */
export const jupyterRequired = process.env.CI === "true" || process.env.QLORA_LAB_REQUIRE_JUPYTER === "1";

/**
 * Returns `false` (run the test) when every Python module is importable, or a skip reason.
 * Throws instead of skipping when Jupyter clients are required.
 */
export function skipUnlessPythonModules(...modules: string[]): string | false {
  const result = spawnSync(jupyterPython, ["-c", modules.map((m) => `import ${m}`).join("; ")], { encoding: "utf8" });
  if (result.status === 0) return false;
  const reason = `${jupyterPython} cannot import ${modules.join(", ")}: ${(result.stderr || result.error?.message || "").trim().split("\n").pop()}`;
  if (jupyterRequired) throw new Error(`${reason} (required because CI=true or QLORA_LAB_REQUIRE_JUPYTER=1)`);
  return reason;
}
