// Atomic file writes: data goes to a temporary file beside the target, is flushed, then renamed
// over it, so a crash or an error never leaves a half-written or clobbered file.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

/** Writes `chunks` to `path` atomically (all or nothing); creates the parent folder if needed. */
export function writeFileAtomic(path: string, chunks: Uint8Array | string | ReadonlyArray<Uint8Array | string>): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
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
