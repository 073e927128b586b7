// Which linears a LoRA config adapts: PEFT's matching rules (peft/tuners/tuners_utils.py,
// check_target_module_exists): suffix lists, full-match regexes, "all-linear", exclusions, layer indices.
import { InvalidArgumentError, expected } from "../errors.js";
import { LLAMA_DEFAULT_TARGET_MODULES, compilePattern, type LoraConfig } from "./config.js";

/** Options of {@link selectTargetModules}. */
export interface SelectTargetOptions {
  /** Module paths of the output head, never adapted by "all-linear" (default ["lm_head"]). */
  outputHeads?: readonly string[];
  /** Function name used in error messages. */
  where?: string;
}

/** True when `path` equals `name` or ends with "." + name (PEFT's suffix rule). */
export function matchesModuleName(path: string, name: string): boolean {
  return path === name || path.endsWith(`.${name}`);
}

/** The decoder-layer index in a module path ("model.layers.3.mlp.up_proj" -> 3), or undefined. */
export function layerIndexOf(path: string, layersPattern: string[] | string | null = null): number | undefined {
  const patterns = layersPattern === null ? [null] : Array.isArray(layersPattern) ? layersPattern : [layersPattern];
  for (const pattern of patterns) {
    // PEFT: r".*\.[^.]*\.(\d+)\." without a pattern, r".*\.{pattern}\.(\d+)\." with one; the
    // greedy ".*" finds the last ".<digits>." whose prefix ends in ".<pattern>".
    if (pattern === null) {
      const m = /^.*\.[^.]*\.(\d+)\./.exec(path);
      if (m) return Number(m[1]);
      continue;
    }
    const prefix = compilePattern("layerIndexOf", "layers_pattern", pattern, ".*\\.");
    for (const { at, index } of dottedIndices(path).reverse()) {
      if (prefix.test(path.slice(0, at))) return index;
    }
  }
  return undefined;
}

/** Every ".<digits>." in `path`: where its first dot is and the number. */
function dottedIndices(path: string): Array<{ at: number; index: number }> {
  const found: Array<{ at: number; index: number }> = [];
  for (let at = path.indexOf("."); at >= 0; at = path.indexOf(".", at + 1)) {
    let end = at + 1;
    while (end < path.length && path[end]! >= "0" && path[end]! <= "9") end++;
    if (end > at + 1 && path[end] === ".") found.push({ at, index: Number(path.slice(at + 1, end)) });
  }
  return found;
}

/** Whether one module path is adapted by `config` (PEFT's rules, including its exclusions). */
export function isTargetModule(path: string, config: LoraConfig, options: SelectTargetOptions = {}): boolean {
  const where = options.where ?? "isTargetModule";
  const heads = options.outputHeads ?? ["lm_head"];
  if (isExcluded(path, config, where)) return false;
  const targets = config.target_modules ?? LLAMA_DEFAULT_TARGET_MODULES;
  if (typeof targets === "string" && targets !== "all-linear") {
    if (config.layers_to_transform !== null) throw new InvalidArgumentError(where, expected("layers_to_transform to be null when target_modules is a regex", config.layers_to_transform, "PEFT refuses this combination too; put the layer indices in the regex."));
    return compilePattern(where, "target_modules", targets).test(path);
  }
  if (targets === "all-linear") {
    if (heads.some((h) => matchesModuleName(path, h))) return false;
    return passesLayerFilter(path, config);
  }
  if (targets.includes(path)) return true; // an exact full path (PEFT >= 0.15 writes these)
  if (!targets.some((t) => path.endsWith(`.${t}`))) return false;
  return passesLayerFilter(path, config);
}

/**
 * The module paths among `paths` that `config` adapts, in the given order. Throws when none match,
 * listing the module names the model has.
 */
export function selectTargetModules(paths: Iterable<string>, config: LoraConfig, options: SelectTargetOptions = {}): string[] {
  const where = options.where ?? "selectTargetModules";
  const all = [...paths];
  const chosen = all.filter((p) => isTargetModule(p, config, { ...options, where }));
  if (chosen.length === 0) {
    const names = [...new Set(all.map((p) => p.slice(p.lastIndexOf(".") + 1)))];
    throw new InvalidArgumentError(
      where,
      expected(`target_modules ${JSON.stringify(config.target_modules ?? LLAMA_DEFAULT_TARGET_MODULES)} to match at least one linear`, "no match", `The model's linears are named ${names.join(", ")} (full paths such as "${all[0] ?? ""}").`),
    );
  }
  return chosen;
}

/** The target_modules value PEFT would write: "all-linear" resolved to the adapted module names. */
export function resolvedTargetModules(config: LoraConfig, adaptedPaths: readonly string[]): string[] | string {
  const targets = config.target_modules ?? LLAMA_DEFAULT_TARGET_MODULES;
  if (targets === "all-linear") return [...new Set(adaptedPaths.map((p) => p.slice(p.lastIndexOf(".") + 1)))].sort();
  return typeof targets === "string" ? targets : [...targets].sort();
}

function isExcluded(path: string, config: LoraConfig, where: string): boolean {
  const exclude = config.exclude_modules;
  if (exclude === null) return false;
  if (typeof exclude === "string") return compilePattern(where, "exclude_modules", exclude).test(path);
  return exclude.some((e) => matchesModuleName(path, e));
}

function passesLayerFilter(path: string, config: LoraConfig): boolean {
  const layers = config.layers_to_transform;
  if (layers === null || (Array.isArray(layers) && layers.length === 0)) return true;
  const index = layerIndexOf(path, config.layers_pattern);
  if (index === undefined) return false;
  return Array.isArray(layers) ? layers.includes(index) : layers === index;
}
