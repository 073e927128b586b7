// Folders written as a unit: a child process saving an adapter (saveAdapter) or a model (saveModel)
// over an existing one in a loop is killed with SIGKILL at a spread of moments; after every kill
// the folder loads, as the old version or the new one, never a mix. Leftovers of killed writes go
// on the next write; a folder taken away between the two renames is put back by the loader.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { resolveBackend } from "../../../lib/backend.js";
import { recoverFolder, writeFolderAtomic } from "../../../lib/io/atomic_folder.js";
import { loadModel } from "../../../lib/model/index.js";
import { loadAdapter } from "../../../lib/lora/adapter_io.js";

const HF_MODEL = fileURLToPath(new URL("../../../../shared/models/stories260K-hf", import.meta.url));
const CHILD = fileURLToPath(new URL("./fixtures/save_loop.ts", import.meta.url));
/** Milliseconds between "ready" (first save done) and SIGKILL: a spread over the save loop's phases. */
const DELAYS = [0, 3, 8, 15, 30, 60];

before(async () => {
  await resolveBackend();
});

/** Starts the save loop, waits for its first save, sleeps `delay` ms, and kills it with SIGKILL. */
function killDuringSaves(kind: "adapter" | "model", dir: string, delay: number): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, kind, dir, HF_MODEL], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.stdout.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) setTimeout(() => child.kill("SIGKILL"), delay);
    });
    child.on("exit", (code, signal) => (signal === "SIGKILL" ? done() : fail(new Error(`save loop exited with ${code}: ${stderr}`))));
  });
}

/** The rank of the adapter in `dir`, loaded onto the real base model. */
async function loadedRank(dir: string): Promise<number> {
  const lora = loadAdapter(await loadModel(HF_MODEL), dir);
  const rank = lora.loraLayers().get("model.layers.0.self_attn.q_proj")!.adapters.get("default")!.r;
  lora.dispose();
  return rank;
}

test("saveAdapter and saveModel killed with SIGKILL at any moment leave a folder that loads, old or new", { timeout: 60_000 }, async () => {
  const parent = mkdtempSync(join(tmpdir(), "qlora-lab-kill-"));
  try {
    const adapter = join(parent, "adapter");
    const model = join(parent, "model");
    const ranks = new Set<number>();
    const sizes = new Set<number>();
    for (const delay of DELAYS) {
      await killDuringSaves("adapter", adapter, delay);
      ranks.add(await loadedRank(adapter));
      await killDuringSaves("model", model, delay);
      const loaded = await loadModel(model);
      sizes.add(loaded.config.hiddenSize);
      loaded.dispose();
    }
    assert.ok([...ranks].every((r) => r === 2 || r === 4), `ranks ${[...ranks]}`);
    assert.ok([...sizes].every((h) => h === 16 || h === 32), `hidden sizes ${[...sizes]}`);
    // Whatever the kills left beside the folders is only ours, and the next write removes it.
    for (const name of readdirSync(parent)) assert.match(name, /^(adapter|model|\.(adapter|model)\.(tmp|old)-\d+-[0-9a-f]{8})$/);
    writeFolderAtomic(adapter, new Map([["note.txt", "x"]]));
    writeFolderAtomic(model, new Map([["note.txt", "x"]]));
    assert.deepEqual(readdirSync(parent).sort(), ["adapter", "model"]);
    assert.deepEqual(readdirSync(adapter).sort(), ["adapter_config.json", "adapter_model.safetensors", "note.txt"], "other files are carried over, no temporary file inside");
    assert.ok([2, 4].includes(await loadedRank(adapter)));
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test("a folder killed between the two renames (only .<name>.old-* left) is put back by the loader", async () => {
  const parent = mkdtempSync(join(tmpdir(), "qlora-lab-kill-"));
  try {
    const adapter = join(parent, "adapter");
    await killDuringSaves("adapter", adapter, 0);
    const rank = await loadedRank(adapter);
    // The state a kill after "rename old away" and before "rename new in" leaves: no folder, the old one
    // under its temporary name, a half-written new one beside it.
    renameSync(adapter, join(parent, ".adapter.old-999999-0123abcd"));
    mkdirSync(join(parent, ".adapter.tmp-999999-4567cdef"));
    writeFileSync(join(parent, ".adapter.tmp-999999-4567cdef", "adapter_config.json"), "{");
    assert.equal(await loadedRank(adapter), rank);
    assert.ok(existsSync(join(adapter, "adapter_config.json")));
    // The same for a model folder, read through a path inside it.
    const model = join(parent, "model");
    await killDuringSaves("model", model, 0);
    renameSync(model, join(parent, ".model.old-999999-89abcdef"));
    const loaded = await loadModel(join(model, "model.safetensors"));
    loaded.dispose();
    assert.equal(recoverFolder(model), model);
    // A write cleans its own folder's leftovers (a writer killed at once may or may not have begun one).
    writeFolderAtomic(adapter, new Map([["note.txt", "x"]]));
    writeFolderAtomic(model, new Map([["note.txt", "x"]]));
    assert.deepEqual(readdirSync(parent).sort(), ["adapter", "model"], "the killed writers' temporary folders are removed by the next write");
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});
