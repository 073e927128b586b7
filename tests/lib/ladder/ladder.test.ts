// The ladder on the shipped model (real weights, a child process per rung): the JSON shape, the
// planner within 5 % of the measured ledger peak on each method (and on smollm2-135m's random model),
// a rung over the budget refused before it starts, failed rungs reported with their reason while the
// ladder goes on, and the CLI's table.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveBackend } from "../../../lib/backend.js";
import { MEMORY_TIERS_GIB, runLadder } from "../../../lib/ladder/ladder.js";

const QUICK = { steps: 1, generateTokens: 4, generateRepeats: 1 } as const;

before(async () => {
  await resolveBackend();
});

test("each method's rung reports the ladder's JSON fields, its planned peak within 5 % of the ledger's", async () => {
  const phases: string[] = [];
  const result = await runLadder({ sizes: ["shipped"], methods: ["lora16", "qlora", "lora32"], ...QUICK, onProgress: (e) => phases.push(`${e.method} ${e.phase}`) });
  assert.equal(result.rungs.length, 3);
  assert.ok(result.machine.cores >= 1 && result.machine.memoryBytes > 0 && result.machine.products.length > 0);
  for (const rung of result.rungs) {
    assert.equal(rung.status, "ok", rung.reason);
    assert.equal(rung.weights, "shipped");
    assert.ok(rung.parameters > 400_000 && rung.parameters < 600_000, `${rung.parameters} parameters`);
    for (const key of ["peakBytes", "peakRssBytes", "plannedPeakBytes", "tokensPerSecond"] as const) assert.ok(rung[key]! > 0, `${rung.method} ${key}`);
    assert.ok(Math.abs(rung.plannedErrorPercent!) < 5, `${rung.method}: planned ${rung.plannedPeakBytes} vs ledger ${rung.peakBytes} (${rung.plannedErrorPercent} %)`);
    assert.ok(rung.stepSeconds!.min <= rung.stepSeconds!.median && rung.stepSeconds!.median <= rung.stepSeconds!.max);
    const gen = rung.generateTokensPerSecond!;
    assert.ok(gen.separate > 0 && (rung.method === "qlora" ? gen.requantized! > 0 && gen.merged === undefined : gen.merged! > 0));
    assert.deepEqual(rung.tiers.map((t) => t.tierGiB), [...MEMORY_TIERS_GIB]);
    assert.ok(rung.tiers.every((t) => t.basis === "measured"));
  }
  const bytes = (method: string, category: string) => result.rungs.find((r) => r.method === method)!.bytesByCategory![category as never] ?? 0;
  assert.ok(bytes("lora16", "base_16bit") > 0 && bytes("qlora", "base_packed") > 0 && bytes("lora32", "base_16bit") === 0);
  assert.ok(phases.includes("qlora generating") && phases.includes("lora32 ok"));
  assert.deepEqual(result.planned.map((p) => `${p.model} ${p.method}`), ["llama-2-7b lora16", "llama-2-7b qlora", "llama-2-7b lora32", "llama2-70b lora16", "llama2-70b qlora", "llama2-70b lora32"]);
  assert.ok(result.planned.every((p) => p.tfjsPeakBytes > 0 && p.cudaPeakBytes > 0 && p.tiers.every((t) => t.basis === "planned")));
});

test("the second rung, smollm2-135m (random weights), within 5 % of its plan on both methods; QLoRA's base the smaller", async () => {
  const result = await runLadder({ sizes: ["smollm2-135m"], methods: ["lora16", "qlora"], ...QUICK, seqLen: 32 });
  for (const rung of result.rungs) {
    assert.equal(rung.status, "ok", rung.reason);
    assert.equal(rung.weights, "random");
    assert.ok(Math.abs(rung.plannedErrorPercent!) < 5, `${rung.method}: planned ${rung.plannedPeakBytes} vs ledger ${rung.peakBytes} (${rung.plannedErrorPercent} %)`);
    assert.ok(rung.peakRssBytes! > rung.peakBytes!, `${rung.method}: the process holds more than the ledger counts`);
  }
  const base = (method: string) => Object.entries(result.rungs.find((r) => r.method === method)!.bytesByCategory!).filter(([c]) => c.startsWith("base_") || c === "quant_constants").reduce((s, [, b]) => s + (b ?? 0), 0);
  assert.ok(base("qlora") < 0.6 * base("lora16"), `QLoRA base ${base("qlora")} vs LoRA ${base("lora16")}`);
});

test("a rung whose planned peak is over the budget is refused before it starts; the ladder goes on", async () => {
  const result = await runLadder({ sizes: ["smollm2-135m", "shipped"], methods: ["qlora"], ...QUICK, budget: "64MiB" });
  const [refused, ran] = result.rungs;
  assert.equal(refused!.status, "refused");
  assert.match(refused!.reason!, /^the planned peak, [\d.]+ MiB, is over the budget of 64 MiB \(the largest part: .+\)$/);
  assert.equal(refused!.peakBytes, undefined, "nothing was measured");
  assert.ok(refused!.tiers.every((t) => t.basis === "planned"));
  assert.equal(ran!.status, "ok");
  assert.equal(result.settings.budgetBytes, 64 * 2 ** 20);
});

test("a rung whose process fails is reported with the reason it gave, and the ladder goes on to the next", async () => {
  const saved = process.env.QLORA_LAB_BACKEND;
  process.env.QLORA_LAB_BACKEND = "abacus"; // the rungs' processes cannot start a backend of that name
  try {
    const result = await runLadder({ sizes: ["shipped"], methods: ["lora16", "qlora"], ...QUICK });
    assert.deepEqual(result.rungs.map((r) => r.status), ["failed", "failed"]);
    for (const rung of result.rungs) assert.match(rung.reason!, /^the rung's process exited with code 1: .*QLORA_LAB_BACKEND.*abacus/);
  } finally {
    if (saved === undefined) delete process.env.QLORA_LAB_BACKEND;
    else process.env.QLORA_LAB_BACKEND = saved;
  }
});

test("qlora-lab ladder prints the table and writes the JSON; bad flags are refused before anything runs", () => {
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-ladder-"));
  try {
    const bin = new URL("../../../bin/qlora-lab.js", import.meta.url).pathname;
    const out = execFileSync(process.execPath, [bin, "ladder", "--sizes", "shipped", "--methods", "qlora", "--steps", "1", "--tokens", "4", "--repeats", "1", "--json", join(dir, "ladder.json")], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    assert.match(out, /shipped\s+0\.50 M\s+QLoRA, NF4\+DQ\s+ok/);
    assert.match(out, /llama2-70b\s+69\.0 B\s+QLoRA, NF4\+DQ\s+planned/);
    const json = JSON.parse(readFileSync(join(dir, "ladder.json"), "utf8"));
    assert.equal(json.rungs[0].status, "ok");
    for (const [args, message] of [
      [["--methods", "lora8"], /expected --methods among lora16, qlora, lora32, got "lora8"/],
      [["--sizes", "llama-9b"], /expected a known model preset .*got "llama-9b"/],
      [["--budget", "8G"], /"G" alone could mean GiB/],
    ] as const) {
      assert.throws(() => execFileSync(process.execPath, [bin, "ladder", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }), (e: { stderr: string; status: number }) => e.status === 1 && message.test(e.stderr));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
