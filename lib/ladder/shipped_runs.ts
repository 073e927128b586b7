// Saved ladder runs shipped in datasets/ladder/: what `qlora-lab ladder --json` wrote on the machine
// the project is measured on, so a lesson can show rungs (a 1.1 B or 7B model) too slow to run live.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { FileFormatError, InvalidArgumentError, expected } from "../errors.js";
import { shippedDatasetsDir } from "../data/shipped.js";
import type { LadderResult } from "./ladder.js";

const ladderDir = () => join(shippedDatasetsDir(), "ladder");

/** Names of the shipped ladder runs ("default", "llama-2-7b-8gib", ...). */
export function shippedLadderRunNames(): string[] {
  const dir = ladderDir();
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith(".json")).map((n) => n.slice(0, -".json".length)).sort() : [];
}

/** A shipped ladder run by name (default: the default ladder's sizes and methods). */
export function shippedLadderRun(name = "default"): LadderResult {
  const names = shippedLadderRunNames();
  if (!names.includes(name)) throw new InvalidArgumentError("shippedLadderRun", expected(`one of ${names.join(", ")}`, JSON.stringify(name)));
  const path = join(ladderDir(), `${name}.json`);
  const result = JSON.parse(readFileSync(path, "utf8")) as LadderResult;
  if (!Array.isArray(result.rungs) || !Array.isArray(result.planned) || typeof result.machine !== "object") {
    throw new FileFormatError(path, expected("a ladder result with machine, settings, rungs and planned", Object.keys(result).join(", ")));
  }
  return result;
}
