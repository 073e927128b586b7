// Module patterns from adapter configs are matched in linear time: the same answers as JavaScript's
// RegExp on ordinary patterns, and a catastrophic-backtracking pattern in a downloaded
// adapter_config.json neither hangs loading nor slips through unchecked.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveBackend } from "../../../lib/backend.js";
import { FileFormatError, InvalidArgumentError } from "../../../lib/errors.js";
import { loadModel } from "../../../lib/model/index.js";
import { toLoraModel } from "../../../lib/lora/lora_model.js";
import { loadAdapter, saveAdapter } from "../../../lib/lora/adapter_io.js";
import { validateLoraConfig } from "../../../lib/lora/config.js";
import { layerIndexOf } from "../../../lib/lora/target_modules.js";
import { compileModulePattern } from "../../../lib/lora/module_pattern.js";

const HF_MODEL = new URL("../../../../shared/models/stories260K-hf", import.meta.url).pathname;
/** Exponential for a backtracking engine on any module path (more than 90 s on "model.layers.0.self_attn.q_proj"). */
const CATASTROPHIC = "(([a-z_.0-9])+)+X";

before(async () => {
  await resolveBackend();
});

test("agrees with RegExp full matches on the patterns configs use", () => {
  const names = ["model.layers.0.self_attn.q_proj", "model.layers.12.mlp.down_proj", "q_proj", "lm_head", "model.layers.x.self_attn.v_proj", "a-b", "aaab", "", "abcX"];
  const patterns = [
    ".*\\.(q_proj|v_proj)",
    "model\\.layers\\.\\d+\\.self_attn\\.[qv]_proj",
    "model.layers.(0|1|12).(self_attn|mlp).*",
    "[^.]+",
    "[\\w.]+",
    "[a-c-]+",
    "(?<name>a)*?b?",
    "a{2,3}b",
    "a{1,}b|lm_head",
    "^q_proj$",
    "(a*)*b",
    "\\x71_proj",
  ]; // (the catastrophic pattern is left out: RegExp itself takes minutes on these names)
  for (const source of patterns) {
    const mine = compileModulePattern(source);
    const reference = new RegExp(`^(?:${source})$`);
    for (const name of names) assert.equal(mine.test(name), reference.test(name), `${source} on ${JSON.stringify(name)}`);
  }
});

test("the catastrophic pattern matches in microseconds, and non-regular constructs are refused naming the key", () => {
  const pattern = compileModulePattern(CATASTROPHIC);
  const started = performance.now();
  for (let i = 0; i < 1000; i++) assert.equal(pattern.test("model.layers.0.self_attn.q_proj_with_a_longer_name"), false);
  assert.ok(performance.now() - started < 1000, "1000 matches in well under a second");
  const refused: Array<[Record<string, unknown>, RegExp]> = [
    [{ target_modules: "(q)_\\1" }, /target_modules to be a regular module pattern, got "\(q\)_\\\\1"\. It uses the backreference \\1/],
    [{ exclude_modules: "(?!lm_head).*" }, /exclude_modules to be a regular module pattern, .*lookaround/],
    [{ rank_pattern: { "\\bq_proj": 8 } }, /rank_pattern key to be a regular module pattern, got "\\\\bq_proj"\. It uses the word boundary \\b/],
    [{ alpha_pattern: { "q{5000}": 8 } }, /alpha_pattern key to be a regular module pattern, .*repeat count above 1000/],
    [{ layers_pattern: "la(" }, /layers_pattern to be a valid regular expression/],
  ];
  for (const [fields, message] of refused) {
    assert.throws(() => validateLoraConfig(fields), (e: Error) => e instanceof InvalidArgumentError && message.test(e.message), JSON.stringify(fields));
  }
  assert.equal(layerIndexOf("model.layers.3.mlp.up_proj", "layers"), 3);
  assert.equal(layerIndexOf("model.h.1.blocks.2.mlp", "h|blocks"), 2, "the last index whose prefix ends in the pattern, as PEFT's greedy .* finds");
  assert.equal(layerIndexOf("model.layers.3.mlp.up_proj", CATASTROPHIC), undefined);
});

test(`an adapter_config.json with ${CATASTROPHIC} in any pattern key loads or refuses in well under a second`, async () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-pattern-"));
  try {
    const lora = toLoraModel(await loadModel(HF_MODEL), { r: 4, lora_alpha: 8, target_modules: ["q_proj", "v_proj"], init_lora_weights: false }, { seed: 3 });
    saveAdapter(lora, dir);
    lora.dispose();
    const saved = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
    const variants: Array<{ fields: Record<string, unknown>; loads: true | RegExp }> = [
      { fields: { target_modules: CATASTROPHIC }, loads: /expected target_modules "\(\(\[a-z_\.0-9\]\)\+\)\+X" to match at least one linear, got no match/ },
      { fields: { exclude_modules: CATASTROPHIC }, loads: true },
      { fields: { rank_pattern: { [CATASTROPHIC]: 8 } }, loads: true },
      { fields: { alpha_pattern: { [CATASTROPHIC]: 64 } }, loads: true },
      { fields: { layers_to_transform: [0], layers_pattern: CATASTROPHIC }, loads: /to match at least one linear, got no match/ },
    ];
    for (const { fields, loads } of variants) {
      writeFileSync(join(dir, "adapter_config.json"), JSON.stringify({ ...saved, ...fields }));
      const model = await loadModel(HF_MODEL);
      const started = performance.now();
      if (loads === true) loadAdapter(model, dir).dispose();
      else assert.throws(() => loadAdapter(model, dir), (e: Error) => e instanceof FileFormatError && loads.test(e.message), JSON.stringify(fields));
      const ms = performance.now() - started;
      assert.ok(ms < 1000, `${JSON.stringify(fields)}: ${ms.toFixed(0)} ms`);
      if (loads !== true) model.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
