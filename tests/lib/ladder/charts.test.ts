// The ladder's saved runs, charts and table rows, drawn from the shipped runs (a default ladder and a
// 7B run under an 8 GiB budget): every measured rung is a point, a refused rung its planned peak, the
// planner's line reaches 70B, the PNG renders; `qlora-lab ladder --from` prints and draws the same.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ladderMemoryChart, ladderSpeedChart } from "../../../lib/ladder/charts.js";
import { ladderRows } from "../../../lib/ladder/rows.js";
import { shippedLadderRun, shippedLadderRunNames } from "../../../lib/ladder/shipped_runs.js";
import { liveLadderChart } from "../../../lib/ladder/live_chart.js";

type Layer = { data?: { values: Record<string, unknown>[] }; mark: { type: string } };
const layerValues = (spec: Record<string, unknown>, mark: string): Record<string, unknown>[] =>
  (spec.layer as Layer[]).filter((l) => l.mark.type === mark).flatMap((l) => l.data?.values ?? []);

test("the shipped ladder runs: the default sizes, and the 7B run with LoRA refused and QLoRA trained under 8 GiB", () => {
  assert.deepEqual(shippedLadderRunNames(), ["default", "llama-2-7b-8gib"]);
  const sizes = shippedLadderRun().rungs.map((r) => r.model);
  assert.deepEqual([...new Set(sizes)], ["shipped", "smollm2-135m", "smollm2-360m", "tinyllama-1.1b"]);
  const sevenB = shippedLadderRun("llama-2-7b-8gib");
  assert.equal(sevenB.settings.budgetBytes, 8 * 2 ** 30);
  assert.deepEqual(sevenB.rungs.map((r) => `${r.method} ${r.status}`), ["lora16 refused", "qlora ok"]);
  assert.ok(sevenB.rungs[1]!.peakRssBytes! < 8 * 2 ** 30);
  assert.throws(() => shippedLadderRun("70b"), /expected one of default, llama-2-7b-8gib, got "70b"/);
});

test("the memory chart draws every rung, the planner's line to 70B and the tiers; the speed chart every measured rung", () => {
  const runs = [shippedLadderRun(), shippedLadderRun("llama-2-7b-8gib")];
  const memory = ladderMemoryChart(runs);
  const points = layerValues(memory.spec, "point");
  const rungs = runs.flatMap((r) => r.rungs);
  const ok = rungs.filter((r) => r.status === "ok");
  assert.equal(points.length, 2 * ok.length + (rungs.length - ok.length));
  assert.ok(points.some((p) => p.kind === "refused: planned peak" && p.model === "llama-2-7b"));
  const line = layerValues(memory.spec, "line");
  assert.ok(line.some((p) => p.model === "llama2-70b") && line.every((p) => p.kind === "planned"));
  assert.deepEqual(layerValues(memory.spec, "rule").map((t) => t.gib), [4, 6, 8, 12, 16, 24, 48, 80]);
  assert.ok(memory.toPNG().length > 10_000);
  const speed = ladderSpeedChart(runs);
  const [training] = speed.spec.hconcat as { data: { values: Record<string, unknown>[] } }[];
  assert.equal(training!.data.values.length, ok.length);
  for (const v of training!.data.values) assert.ok((v.low as number) <= (v.median as number) && (v.median as number) <= (v.high as number));
  assert.ok(speed.toPNG().length > 10_000);
  assert.throws(() => ladderSpeedChart({ ...runs[0]!, rungs: [] }), /expected at least one measured \(ok\) rung, got none/);
  assert.throws(() => ladderMemoryChart([]), /expected a ladder result/);
});

test("ladderRows: one row per rung, then each planned 7B/70B row once", () => {
  const runs = [shippedLadderRun(), shippedLadderRun("llama-2-7b-8gib")];
  const rows = ladderRows(runs);
  assert.equal(rows.filter((r) => r.status !== "planned").length, runs.flatMap((r) => r.rungs).length);
  assert.deepEqual(rows.filter((r) => r.status === "planned").map((r) => `${r.model} ${r.method}`), ["llama-2-7b LoRA, bf16 base", "llama-2-7b QLoRA, NF4+DQ", "llama2-70b LoRA, bf16 base", "llama2-70b QLoRA, NF4+DQ"]);
});

test("qlora-lab ladder --from prints a saved run's table and draws its charts; a bad file gets a clear error", () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-ladder-from-"));
  const bin = new URL("../../../bin/qlora-lab.js", import.meta.url).pathname;
  const saved = new URL("../../../datasets/ladder/llama-2-7b-8gib.json", import.meta.url).pathname;
  try {
    const out = execFileSync(process.execPath, [bin, "ladder", "--from", saved, "--memory-chart", join(dir, "m.png"), "--speed-chart", join(dir, "s.svg")], { encoding: "utf8" });
    assert.match(out, /llama-2-7b\*?\s+6738 M\s+LoRA, bf16 base\s+refused/);
    assert.ok(readFileSync(join(dir, "m.png")).subarray(1, 4).toString() === "PNG");
    assert.match(readFileSync(join(dir, "s.svg"), "utf8"), /^<svg/);
    writeFileSync(join(dir, "bad.json"), "{\"rungs\": 3}");
    const bad = spawnSync(process.execPath, [bin, "ladder", "--from", join(dir, "bad.json")], { encoding: "utf8" });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /expected a ladder result with rungs and planned, got JSON without them/);
    const ext = spawnSync(process.execPath, [bin, "ladder", "--from", saved, "--memory-chart", join(dir, "m.gif")], { encoding: "utf8" });
    assert.match(ext.stderr, /expected --memory-chart a path ending in \.png, \.svg or \.json, got .*m\.gif/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("liveLadderChart redraws one output as rungs end (spec only), the final chart with its PNG; without a display it prints", () => {
  const run = shippedLadderRun();
  const sent: { kind: string; mimes: string[]; title?: string }[] = [];
  const bundle = (value: unknown) => (value as Record<symbol, () => { data: Record<string, unknown> }>)[Symbol.for("Jupyter.display")]!().data;
  const display = (value: unknown) => {
    const data = bundle(value);
    sent.push({ kind: "display", mimes: Object.keys(data), title: (data["application/vnd.vegalite.v5+json"] as { title: { text: string } }).title.text });
    return { displayId: "d", update: (v: unknown) => sent.push({ kind: "update", mimes: Object.keys(bundle(v)), title: (bundle(v)["application/vnd.vegalite.v5+json"] as { title: { text: string } }).title.text }) };
  };
  const live = liveLadderChart({ display });
  run.rungs.forEach((rung, index) => {
    live.onProgress({ index, total: run.rungs.length, model: rung.model, method: rung.method, phase: "training" });
    live.onProgress({ index, total: run.rungs.length, model: rung.model, method: rung.method, phase: rung.status, rung });
  });
  live.finish(run);
  assert.equal(sent[0]!.kind, "display");
  assert.equal(sent.filter((s) => s.kind === "display").length, 1, "one output, updated in place");
  assert.equal(sent[0]!.title, "Ladder: rung 1 of 8, shipped lora16: ok");
  assert.equal(sent[1]!.title, "Ladder: rung 2 of 8, shipped qlora: training");
  assert.ok(sent.slice(0, -1).every((s) => !s.mimes.includes("image/png")));
  assert.ok(sent.at(-1)!.mimes.includes("image/png"));
  const lines: string[] = [];
  const printed = liveLadderChart({ print: (l) => lines.push(l) });
  printed.onProgress({ index: 0, total: 1, model: "shipped", method: "qlora", phase: "starting" });
  printed.finish(run);
  assert.deepEqual(lines[0], "Ladder: rung 1 of 1, shipped qlora: starting");
  assert.match(lines[1]!, /^Ladder memory: shipped lora16/);
});
