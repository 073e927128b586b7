// `qlora-lab generate --adapter DIR` end to end: the CLI's tokens equal an in-process LoRA model's.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveBackend } from "../../../lib/backend.js";
import { loadModel } from "../../../lib/model/index.js";
import { toLoraModel } from "../../../lib/lora/lora_model.js";
import { saveAdapter, loadAdapter } from "../../../lib/lora/adapter_io.js";

const BIN = new URL("../../../bin/qlora-lab.js", import.meta.url).pathname;
const HF_MODEL = new URL("../../../../shared/models/stories260K-hf", import.meta.url).pathname;
const TOKENIZER = new URL("../../../../shared/models/stories260K/tok512.bin", import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, "generate", ...args], { encoding: "utf8", env: { ...process.env, QLORA_LAB_BACKEND: "" } });

before(async () => {
  await resolveBackend();
});

test("generate --adapter DIR writes what the adapted model writes, not what the base writes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-cli-adapter-"));
  try {
    const model = await loadModel(HF_MODEL);
    // A visible adapter: random A and B (PEFT's init_lora_weights=False) on every projection.
    const lora = toLoraModel(model, { r: 4, lora_alpha: 16, target_modules: "all-linear", init_lora_weights: false }, { seed: 4 });
    saveAdapter(lora, dir);
    lora.dispose();
    const fresh = loadAdapter(await loadModel(HF_MODEL), dir);
    const expected = await fresh.generate([1], { maxNewTokens: 16 });
    fresh.dispose();
    const args = ["--model", HF_MODEL, "--tokenizer", TOKENIZER, "--prompt", "", "--max-new-tokens", "16", "--json"];
    const withAdapter = cli(...args, "--adapter", dir);
    assert.equal(withAdapter.status, 0, withAdapter.stderr);
    const adapted = JSON.parse(withAdapter.stdout);
    assert.deepEqual(adapted.ids, expected.ids.slice(0, adapted.ids.length));
    const plain = JSON.parse(cli(...args).stdout);
    assert.notDeepEqual(adapted.ids, plain.ids, "the adapter changes the text");
    const bad = cli(...args, "--adapter", join(dir, "missing"));
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /missing: expected an adapter folder, got ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
