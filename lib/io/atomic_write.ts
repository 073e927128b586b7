// Atomic file writes: data goes to a temporary file beside the target, is flushed, then renamed
// over it, so a crash or an error never leaves a half-written or clobbered file. Temporary files
// left by a writer that was killed are removed by the next write of the same target.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

/** Writes `chunks` to `path` atomically (all or nothing); creates the parent folder if needed. */
export function writeFileAtomic(path: string, chunks: Uint8Array | string | ReadonlyArray<Uint8Array | string>): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  removeLeftovers(dir, new RegExp(`^\\.${escapeRegExp(basename(path))}\\.(\\d+)\\.[0-9a-f]{8}\\.tmp$`));
  const temporary = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const list = Array.isArray(chunks) ? chunks : [chunks as Uint8Array | string];
  let fd: number | undefined;
  try {
    fd = openSync(temporary, "w", 0o644);
    for (const chunk of list) {
      const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
      let written = 0;
      while (written < bytes.byteLength) written += writeSync(fd, bytes, written, bytes.byteLength - written);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temporary, path);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    rmSync(temporary, { force: true });
    throw error;
  }
}

/**
 * Removes the entries of `dir` whose names match `leftover` (group 1: the writer's process id) and
 * whose writer is no longer running: what a killed write left behind. A live writer's are kept.
 */
export function removeLeftovers(dir: string, leftover: RegExp): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = leftover.exec(name);
    if (m && !writerIsRunning(Number(m[1]))) rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/** Whether another process with this id runs (this process's own writes are synchronous, so never in progress). */
function writerIsRunning(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"; // alive, owned by someone else
  }
}

/** `text` with regex metacharacters escaped. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
