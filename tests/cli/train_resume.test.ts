// `qlora-lab train` stopped by a real SIGINT (what Ctrl-C sends) saves where it stopped and exits 130;
// `--resume` then continues to the same per-step losses and final adapter as a run never interrupted.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { SafetensorsFile } from "../../lib/io/safetensors.js";
import { resolveBackend } from "../../lib/backend.js";
import { CLI, runCli, tempDir } from "./cli.js";
import { HF_MODEL, logLosses, recipeFor, writeInitialAdapter, writeRecipe, writeRows } from "../lib/recipe/helpers.js";

/** Runs `qlora-lab train` and sends SIGINT once stderr shows `step N/`; resolves with the exit status and output. */
function trainInterrupted(args: string[], afterStep: number, limitS = 90): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, "train", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let sent = false;
    const timer = setTimeout(() => child.kill("SIGKILL"), limitS * 1000);
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString("utf8");
      if (!sent && stderr.includes(`step ${afterStep}/`)) {
        sent = true;
        child.kill("SIGINT");
      }
    });
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

function adapterValues(dir: string): Map<string, Float32Array> {
  const file = SafetensorsFile.open(join(dir, "adapter", "adapter_model.safetensors"));
  return new Map(file.names().map((n) => [n, file.readFloat32(n)]));
}

test("Ctrl-C stops a recipe run between steps with everything saved, and --resume continues to the uninterrupted run's losses", { skip: !existsSync(HF_MODEL) && "shared/models/stories260K-hf is not present", timeout: 240_000 }, async (t) => {
  await resolveBackend();
  const dir = tempDir();
  try {
    const rows = writeRows(dir);
    const initial = await writeInitialAdapter(dir);
    const whole = writeRecipe(dir, recipeFor(rows, join(dir, "whole")), "whole.json");
    // Checkpoints every 13 steps: the stop (near step 3) writes its own, not a periodic one.
    const parts = writeRecipe(dir, recipeFor(rows, join(dir, "parts"), { save: { every: 13 } }), "parts.json");

    const uninterrupted = await runCli(["train", whole, "--init-adapter", initial], { limitS: 90 });
    assert.equal(uninterrupted.status, 0, uninterrupted.stderr);
    const wanted = logLosses(readFileSync(join(dir, "whole", "log.jsonl"), "utf8"));
    assert.equal(wanted.length, 20);

    const stopped = await trainInterrupted([parts, "--init-adapter", initial], 3);
    assert.equal(stopped.status, 130, stopped.stderr);
    const summary = JSON.parse(stopped.stdout.trim().split("\n").pop()!) as { steps_done: number; stopped: boolean; checkpoint: string };
    t.diagnostic(`stopped at step ${summary.steps_done}`);
    assert.ok(summary.stopped && summary.steps_done >= 3 && summary.steps_done < 20, `stopped part way (${summary.steps_done})`);
    assert.match(stopped.stderr, /^stopping after this step and saving \(Ctrl-C again quits now, unsaved\)$/m);
    assert.match(stopped.stderr, new RegExp(`stopped at step ${summary.steps_done}/20; everything is saved\\. Continue with: qlora-lab train .*parts\\.json --resume`));
    assert.ok(summary.checkpoint.endsWith(`step-${String(summary.steps_done).padStart(6, "0")}`), `a checkpoint of the step it stopped at (${summary.checkpoint})`);
    assert.equal(logLosses(readFileSync(join(dir, "parts", "log.jsonl"), "utf8")).length, summary.steps_done, "the log holds the steps done");
    assert.ok(existsSync(join(dir, "parts", "adapter", "adapter_config.json")) && existsSync(join(dir, "parts", "report.html")), "adapter and report saved at the stop");

    const resumed = await runCli(["train", parts, "--resume"], { limitS: 90 });
    assert.equal(resumed.status, 0, resumed.stderr);
    const got = logLosses(readFileSync(join(dir, "parts", "log.jsonl"), "utf8"));
    assert.equal(got.length, 20);
    got.forEach((loss, i) => assert.ok(Math.abs(loss - wanted[i]!) <= 1e-6 * Math.abs(wanted[i]!), `step ${i + 1}: resumed ${loss} vs uninterrupted ${wanted[i]}`));
    const [a, b] = [adapterValues(join(dir, "whole")), adapterValues(join(dir, "parts"))];
    assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
    for (const [name, values] of a) assert.deepEqual(b.get(name), values, `${name} equals the uninterrupted run's`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
