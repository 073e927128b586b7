// Reading a recipe file (YAML or JSON, by extension) and applying `key.path=value` overrides, as
// `--set` gives them on the command line; values are read as YAML scalars (1e-3, true, [q_proj, v_proj]).
import { readFileSync, statSync } from "node:fs";
import { extname } from "node:path";
import { parse as parseYaml } from "yaml";
import { FileFormatError, InvalidArgumentError, expected } from "../errors.js";

/** The parsed contents of a .yaml, .yml or .json recipe. */
export function readRecipeFile(path: string): unknown {
  const where = "readRecipe";
  const ext = extname(path).toLowerCase();
  if (![".yaml", ".yml", ".json"].includes(ext)) throw new FileFormatError(where, expected("a recipe file ending in .yaml, .yml or .json", path));
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new FileFormatError(where, expected(`a recipe file at ${path}`, "no such file"));
  }
  if (!isFile) throw new FileFormatError(where, expected(`a recipe file at ${path}`, "a folder"));
  const text = readFileSync(path, "utf8");
  try {
    return ext === ".json" ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    const detail = (error as Error).message.split("\n")[0]!.replace(/:$/, "");
    throw new FileFormatError(path, expected(ext === ".json" ? "valid JSON" : "valid YAML", detail));
  }
}

/** `raw` with each "a.b.c=value" override applied (sections are created as needed); `raw` is not changed. */
export function applyOverrides(raw: unknown, overrides: readonly string[]): unknown {
  const where = "--set";
  const out = structuredClone(raw ?? {}) as Record<string, unknown>;
  for (const item of overrides) {
    const cut = item.indexOf("=");
    const keyPath = cut > 0 ? item.slice(0, cut) : "";
    const keys = keyPath.split(".");
    if (cut <= 0 || keys.some((k) => k === "")) throw new InvalidArgumentError(where, expected("key.path=value (e.g. optimizer.lr=1e-3)", JSON.stringify(item)));
    let node = out;
    for (const key of keys.slice(0, -1)) {
      const next = node[key];
      if (next === undefined || next === null) node = node[key] = {};
      else if (typeof next === "object" && !Array.isArray(next)) node = next as Record<string, unknown>;
      else throw new InvalidArgumentError(where, expected(`${keyPath} inside a section`, `${key} is ${JSON.stringify(next)}, not a section`));
    }
    const text = item.slice(cut + 1);
    let value: unknown;
    try {
      value = text === "" ? "" : parseYaml(text);
    } catch {
      value = text;
    }
    node[keys[keys.length - 1]!] = value;
  }
  return out;
}
