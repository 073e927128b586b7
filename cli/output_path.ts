// Checks of where a command will write, made before it does the work: a path that is a folder, a
// parent that is a file, or a folder nobody may write to is refused with one line at once, instead
// of a raw EISDIR or ENOTDIR after minutes of quantizing, training or running cells. Missing
// folders are fine: writeFileAtomic and saveAdapter create them.
import { accessSync, constants, statSync, type Stats } from "node:fs";
import { dirname, resolve } from "node:path";
import { InvalidArgumentError, expected } from "../lib/errors.js";

/** Throws unless a file can be written at `path` (given as `flag`, e.g. "--out"). */
export function requireWritableFilePath(where: string, flag: string, path: string): void {
  const stats = statOrUndefined(path);
  if (stats?.isDirectory()) throw new InvalidArgumentError(where, expected(`${flag} to name a file`, `the folder ${path}`, "Give a file name inside it."));
  if (stats) {
    requireAccess(where, flag, path, "a file you may write over");
    // The file is replaced by a rename beside it, so its folder must be writable too.
    requireAccess(where, flag, dirname(resolve(path)), "a folder you may write in");
    return;
  }
  requireCreatableUnder(where, flag, path, dirname(resolve(path)));
}

/** Throws unless `path` is a folder, or one can be made there (given as `flag`, e.g. "--adapters"). */
export function requireWritableFolderPath(where: string, flag: string, path: string): void {
  const stats = statOrUndefined(path);
  if (stats && !stats.isDirectory()) throw new InvalidArgumentError(where, expected(`${flag} to name a folder`, `the file ${path}`));
  if (stats) requireAccess(where, flag, path, "a folder you may write in");
  else requireCreatableUnder(where, flag, path, dirname(resolve(path)));
}

/** The nearest existing ancestor of `start` must be a folder one may write in (the rest is created). */
function requireCreatableUnder(where: string, flag: string, path: string, start: string): void {
  let folder = start;
  let stats = statOrUndefined(folder);
  while (!stats && dirname(folder) !== folder) {
    folder = dirname(folder);
    stats = statOrUndefined(folder);
  }
  if (stats && !stats.isDirectory()) throw new InvalidArgumentError(where, expected(`${flag} ${path} to lie in a folder`, `the file ${folder} in its path`));
  requireAccess(where, flag, folder, "a folder you may write in");
}

function requireAccess(where: string, flag: string, path: string, what: string): void {
  try {
    accessSync(path, constants.W_OK);
  } catch {
    throw new InvalidArgumentError(where, expected(`${flag} in ${what}`, `no write permission on ${path}`));
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    // ENOTDIR: a file stands where a folder of the path should be; the ancestor walk reports it.
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw error;
  }
}
