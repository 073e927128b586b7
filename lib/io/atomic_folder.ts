// Folders written as a unit (an adapter's config and weights, a model's config.json and
// model.safetensors): files that only make sense together must never be seen half old, half new.
//
// The new folder is written complete beside the target as ".<name>.tmp-<pid>-<hex>" and flushed;
// then the old one is renamed to ".<name>.old-<pid>-<hex>", the new one renamed into place, and the
// old one removed. A kill at any moment leaves one of:
//   - the old folder untouched (the new one was still being written: a leftover removed later);
//   - no folder but a complete ".<name>.old-*" (killed between the two renames): readers call
//     recoverFolder, which puts it back;
//   - the new folder in place (perhaps beside an old one not yet removed: removed by the next write).
// Other entries of the old folder (a README, a tokenizer) are carried into the new one.
import { closeSync, copyFileSync, cpSync, existsSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join, resolve } from "node:path";
import { InvalidArgumentError, expected } from "../errors.js";
import { escapeRegExp, removeLeftovers, writeFileAtomic } from "./atomic_write.js";

/** What one file of the folder holds (as writeFileAtomic takes it). */
export type FileContents = Uint8Array | string | ReadonlyArray<Uint8Array | string>;

/** Replaces folder `dir` by one holding `files` (name -> contents) and the old folder's other entries, as a unit. */
export function writeFolderAtomic(dir: string, files: ReadonlyMap<string, FileContents>, where = "writeFolderAtomic"): void {
  const target = resolve(dir);
  const parent = dirname(target);
  const name = basename(target);
  mkdirSync(parent, { recursive: true });
  recoverFolder(target);
  if (existsSync(target) && !statSync(target).isDirectory()) throw new InvalidArgumentError(where, expected(`a folder path for ${[...files.keys()].join(" and ")}`, `${dir}, an existing file`));
  removeLeftovers(parent, new RegExp(`^\\.${escapeRegExp(name)}\\.tmp-(\\d+)-[0-9a-f]{8}$`));
  if (existsSync(target)) removeLeftovers(parent, new RegExp(`^\\.${escapeRegExp(name)}\\.old-(\\d+)-[0-9a-f]{8}$`));

  const tag = `${process.pid}-${randomBytes(4).toString("hex")}`;
  const fresh = join(parent, `.${name}.tmp-${tag}`);
  try {
    mkdirSync(fresh);
    if (existsSync(target)) carryOver(target, fresh, files);
    for (const [file, contents] of files) writeFileAtomic(join(fresh, file), contents);
    syncFolder(fresh);
  } catch (error) {
    rmSync(fresh, { recursive: true, force: true });
    throw error;
  }
  if (!existsSync(target)) {
    renameSync(fresh, target);
    syncFolder(parent);
    return;
  }
  const old = join(parent, `.${name}.old-${tag}`);
  renameSync(target, old);
  renameSync(fresh, target);
  syncFolder(parent);
  rmSync(old, { recursive: true, force: true });
}

/**
 * Puts back a folder a killed writeFolderAtomic took away (it was renamed to ".<name>.old-*" and
 * the new one not yet renamed in); returns the folder to read: `dir`, or the old one where it
 * cannot be renamed (a read-only location).
 */
export function recoverFolder(dir: string): string {
  const target = resolve(dir);
  if (existsSync(target)) return dir;
  const parent = dirname(target);
  const pattern = new RegExp(`^\\.${escapeRegExp(basename(target))}\\.old-\\d+-[0-9a-f]{8}$`);
  let olds: string[];
  try {
    olds = readdirSync(parent).filter((n) => pattern.test(n)).map((n) => join(parent, n));
  } catch {
    return dir;
  }
  if (olds.length === 0) return dir;
  const newest = olds.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0]!;
  try {
    renameSync(newest, target);
    return dir;
  } catch {
    return newest;
  }
}

/** Links (or copies) the entries of `from` that the write does not replace into `to`. */
function carryOver(from: string, to: string, replaced: ReadonlyMap<string, FileContents>): void {
  const ownLeftover = /^\..+\.\d+\.[0-9a-f]{8}\.tmp$/; // writeFileAtomic's temporary files
  for (const entry of readdirSync(from)) {
    if (replaced.has(entry) || ownLeftover.test(entry)) continue;
    const source = join(from, entry);
    const destination = join(to, entry);
    if (lstatSync(source).isFile()) {
      try {
        linkSync(source, destination); // the old folder keeps its own link, so it stays intact
      } catch {
        copyFileSync(source, destination);
      }
    } else cpSync(source, destination, { recursive: true, verbatimSymlinks: true });
  }
}

/** Flushes a folder's entries (the renames into it) to disk; a no-op where folders cannot be opened. */
function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Windows cannot open a folder; its renames are durable once they return.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
