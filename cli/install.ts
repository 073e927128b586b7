// `qlora-lab install [--user | --sys-prefix | --prefix DIR]`: writes the kernelspec Jupyter reads
// (jupyter_client docs/kernels.rst, "Kernel specs") directly, with no Python involved.
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError, expected } from "../lib/errors.js";
import { parseFlags } from "./flags.js";

/** The kernel's name in `jupyter kernelspec list` and notebook metadata. */
export const KERNEL_NAME = "qlora-lab";

const USAGE = `Usage: qlora-lab install [--user | --sys-prefix | --prefix DIR] [--name NAME]

Registers the "TypeScript (QLoRA Lab)" kernel with Jupyter.
  --user         for this user (default): ~/.local/share/jupyter/kernels (macOS: ~/Library/Jupyter/kernels)
  --sys-prefix   for the active virtualenv or conda environment: $VIRTUAL_ENV/share/jupyter/kernels
  --prefix DIR   under DIR/share/jupyter/kernels (point JUPYTER_PATH at DIR/share/jupyter)
  --name NAME    kernelspec name: letters, digits, ".", "_", "-"; lower-cased (default "${KERNEL_NAME}")`;

/** kernel.json for this Node and this copy of qlora-lab. */
export function kernelSpec(): Record<string, unknown> {
  return {
    argv: [process.execPath, fileURLToPath(new URL("../bin/qlora-lab.js", import.meta.url)), "kernel", "--connection-file", "{connection_file}"],
    display_name: "TypeScript (QLoRA Lab)",
    language: "typescript",
    interrupt_mode: "message",
    env: {},
    metadata: { debugger: false },
  };
}

/** Where a kernelspec goes for the chosen scope. */
export function kernelsDir(options: { user?: boolean; sysPrefix?: boolean; prefix?: string }, env: NodeJS.ProcessEnv = process.env): string {
  if (options.prefix) return join(options.prefix, "share", "jupyter", "kernels");
  if (options.sysPrefix) {
    const prefix = env.VIRTUAL_ENV ?? env.CONDA_PREFIX;
    if (!prefix) throw new InvalidArgumentError("qlora-lab install", expected("an active virtualenv or conda environment for --sys-prefix", "neither VIRTUAL_ENV nor CONDA_PREFIX set", "Use --user or --prefix DIR."));
    return join(prefix, "share", "jupyter", "kernels");
  }
  const data = env.JUPYTER_DATA_DIR ?? (process.platform === "darwin" ? join(homedir(), "Library", "Jupyter") : join(env.XDG_DATA_HOME ?? join(homedir(), ".local", "share"), "jupyter"));
  return join(data, "kernels");
}

/**
 * A kernelspec name as jupyter_client accepts it: letters, digits, ".", "_" and "-", lower-cased
 * (its install_kernel_spec lower-cases, and `jupyter kernelspec list` skips folders with other
 * names). Names of dots alone are refused too: "." and ".." would put the kernel.json beside or
 * above the kernels folder instead of in it.
 */
export function kernelName(name: string): string {
  if (!/^[a-z0-9._-]+$/i.test(name) || /^\.+$/.test(name)) {
    throw new InvalidArgumentError("qlora-lab install", expected("--name of letters, digits, \".\", \"_\" and \"-\" (not dots alone), as Jupyter requires", JSON.stringify(name)));
  }
  return name.toLowerCase();
}

/** Writes the kernelspec directory (kernel.json and logos); prints where it went. */
export async function install(argv: string[]): Promise<number> {
  const { values } = parseFlags("qlora-lab install", argv, { user: { type: "boolean" }, "sys-prefix": { type: "boolean" }, prefix: { type: "string" }, name: { type: "string" }, help: { type: "boolean", short: "h" } });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const scopes = [values.user, values["sys-prefix"], values.prefix !== undefined].filter(Boolean).length;
  if (scopes > 1) throw new InvalidArgumentError("qlora-lab install", expected("at most one of --user, --sys-prefix, --prefix", "several", USAGE));
  const name = kernelName(values.name ?? KERNEL_NAME);
  const dir = join(kernelsDir({ user: values.user, sysPrefix: values["sys-prefix"], prefix: values.prefix }), name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "kernel.json"), `${JSON.stringify(kernelSpec(), null, 2)}\n`);
  for (const logo of ["logo-32x32.png", "logo-64x64.png", "logo.svg"]) {
    await copyFile(fileURLToPath(new URL(`../kernel/assets/${logo}`, import.meta.url)), join(dir, logo === "logo.svg" ? "logo-svg.svg" : logo));
  }
  console.log(`Installed kernelspec "${name}" in ${dir}`);
  return 0;
}
