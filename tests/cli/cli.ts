// Runs the real `qlora-lab` command as a child process with a time limit, and writes small
// notebooks for it to run.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The qlora-lab command's entry point. */
export const CLI = fileURLToPath(new URL("../../bin/qlora-lab.js", import.meta.url));

/** What a finished (or killed) command left behind. */
export interface CliRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
  timedOut: boolean;
}

/** Runs `qlora-lab ...args`, killing it and its children after `limitS` seconds. */
export function runCli(args: string[], options: { cwd?: string; limitS?: number } = {}): Promise<CliRun> {
  const limitS = options.limitS ?? 60;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, "SIGKILL"); // the kernel too
      } catch {
        child.kill("SIGKILL");
      }
    }, limitS * 1000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, seconds: (performance.now() - started) / 1000, timedOut });
    });
  });
}

/** A fresh temporary folder. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "qlora-lab-cli-"));
}

/** A code cell as a notebook stores it. */
export function codeCell(source: unknown, previous: { outputs?: unknown[]; execution_count?: number | null } = {}): Record<string, unknown> {
  return { cell_type: "code", source, metadata: {}, outputs: previous.outputs ?? [], execution_count: previous.execution_count ?? null };
}

/** Writes a notebook of `cells` to `path`. */
export function writeNotebook(path: string, cells: unknown[]): void {
  writeFileSync(path, JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells }));
}

/** True when `text` holds a JavaScript stack frame ("    at f (file:1:2)"): errors must be one line. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+[:(]/m.test(text);
}

/** The code cells of a saved notebook, with nbformat's line lists (sources, texts, MIME strings) joined back into strings. */
export function savedCells(path: string): any[] {
  const join = (v: unknown): unknown => (Array.isArray(v) && v.every((line) => typeof line === "string") ? v.join("") : v);
  const cells = (JSON.parse(readFileSync(path, "utf8")) as { cells: Record<string, any>[] }).cells;
  return cells.map((cell) => ({
    ...cell,
    source: join(cell.source),
    outputs: cell.outputs?.map((o: Record<string, any>) => ({ ...o, ...("text" in o ? { text: join(o.text) } : {}), ...(o.data ? { data: Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, join(v)])) } : {}) })),
  }));
}
