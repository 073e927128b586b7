import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { AdamW, PagedPlacement, type OptimizerStateOption, type PagingRecord } from "../../../lib/optim/index.js";
import { makeTinyModel, trainStep } from "./tiny_model.js";

// 3 layers: 24*40 + 40*40 + 40*8 = 2880 parameters -> 23040 bytes of 32-bit state.
const DIMS = [24, 40, 40, 8];
const STATE_BYTES = 8 * (24 * 40 + 40 * 40 + 40 * 8);

function run(state: OptimizerStateOption, steps: number, tag: string) {
  const model = makeTinyModel(tag, DIMS, 16);
  const records: PagingRecord[] = [];
  const opt = new AdamW({ weightDecay: 0.01, state, onPaging: (r) => records.push(r) });
  const losses: number[] = [];
  let maxResident = 0;
  for (let t = 0; t < steps; t++) {
    losses.push(trainStep(model, opt, 1e-2));
    const resident = opt.memoryItems().filter((i) => i.onBackend).reduce((s, i) => s + i.bytes, 0);
    maxResident = Math.max(maxResident, resident);
  }
  const weights = model.params.map((p) => Array.from(p.variable.dataSync()));
  const saved = opt.saveState();
  const items = opt.memoryItems();
  opt.dispose();
  model.dispose();
  return { losses, weights, saved, records, items, maxResident, history: opt.pagingHistory() };
}

for (const backend of ["cpu", "wasm"] as const) {
  test(`paged AdamW at 25% budget is bit-identical to resident, step for step (${backend})`, async () => {
    await resolveBackend({ force: backend });
    const before = tf.memory().numTensors;
    const resident = run({ kind: "resident" }, 6, `res-${backend}`);
    const budget = Math.floor(STATE_BYTES / 4);
    const paged = run({ kind: "paged", budgetBytes: budget, pageBytes: 1024 }, 6, `pag-${backend}`);
    assert.equal(tf.memory().numTensors, before, "no tensors leak");
    assert.deepEqual(paged.losses, resident.losses);
    assert.deepEqual(paged.weights, resident.weights);
    const pagedSlots = Object.values(paged.saved.slots);
    Object.values(resident.saved.slots).forEach((slot, i) => {
      assert.deepEqual(pagedSlots[i]!.m, slot.m);
      assert.deepEqual(pagedSlots[i]!.v, slot.v);
    });
    assert.ok(resident.losses.at(-1)! < resident.losses[0]!, "training lowers the loss");
    // The budget holds: resident state never exceeds it, and most state is paged out.
    assert.ok(paged.maxResident <= budget, `${paged.maxResident} <= ${budget}`);
    const out = paged.items.filter((i) => i.category === "optimizer_paged_out").reduce((s, i) => s + i.bytes, 0);
    const inn = paged.items.filter((i) => i.category === "optimizer_resident").reduce((s, i) => s + i.bytes, 0);
    assert.equal(out + inn, STATE_BYTES);
    assert.ok(inn <= budget && out >= STATE_BYTES - budget);
    // Records: one per step; from step 2 on, every page comes in once and goes out once (LRU on a cyclic scan).
    assert.equal(paged.records.length, 6);
    assert.deepEqual(paged.history.map((r) => r.step), [1, 2, 3, 4, 5, 6]);
    const pages = Math.ceil((24 * 40) / 128) + Math.ceil((40 * 40) / 128) + Math.ceil((40 * 8) / 128);
    assert.equal(paged.records[0]!.pagesIn, 0, "first step allocates pages on the backend; nothing comes in");
    for (const r of paged.records.slice(1)) {
      assert.equal(r.pagesIn, pages);
      assert.equal(r.bytesIn, STATE_BYTES);
      assert.ok(r.pagesOut >= r.pagesIn - 1 && r.bytesOut >= STATE_BYTES - budget, `out ${r.pagesOut} pages, ${r.bytesOut} bytes`);
      assert.ok(r.prefetched > 0 && r.prefetched <= r.pagesIn);
      assert.ok(r.pagingMs >= 0 && r.stepMs >= r.pagingMs);
      assert.equal(r.residentBytes + r.pagedOutBytes, STATE_BYTES);
      assert.equal(r.budgetBytes, budget);
    }
    assert.equal(resident.records.length, 0);
  });
}

test("the budget holds after every page move inside a step; a parameter whose state fits moves as one chunk", async () => {
  await resolveBackend({ force: "wasm" });
  // Watch the pager's resident bytes after every call AdamW makes, not only between steps.
  const proto = PagedPlacement.prototype;
  const originals = { acquire: proto.acquire, put: proto.put, prefetch: proto.prefetch };
  const seen: Array<{ call: string; key: string; resident: number }> = [];
  for (const call of ["acquire", "put", "prefetch"] as const) {
    const original = originals[call] as (this: PagedPlacement, ...args: unknown[]) => unknown;
    (proto as unknown as Record<string, unknown>)[call] = function (this: PagedPlacement, ...args: unknown[]) {
      const result = original.apply(this, args);
      seen.push({ call, key: args[0] as string, resident: this.residentBytes });
      return result;
    };
  }
  try {
    // 40 * 40 * 8 = 12800 bytes is the largest parameter's state: at a 13000-byte budget every
    // parameter is one chunk (8 + 13 + 3 pages of 1024 bytes); at 25 % chunks are 5 pages.
    const resident = run({ kind: "resident" }, 3, "fit-res");
    for (const [budget, chunks] of [[13000, [8, 13, 3]], [Math.floor(STATE_BYTES / 4), [5, 3, 5, 5, 3, 3]]] as const) {
      seen.length = 0;
      const paged = run({ kind: "paged", budgetBytes: budget, pageBytes: 1024 }, 3, `fit-pag-${budget}`);
      assert.deepEqual(paged.weights, resident.weights);
      assert.ok(seen.length > 0 && seen.every((s) => s.resident <= budget), `max resident ${Math.max(...seen.map((s) => s.resident))} <= ${budget}`);
      const keys = [...new Set(seen.filter((s) => s.call === "put").map((s) => s.key))];
      assert.equal(keys.length, chunks.length, `chunks: ${keys.join(", ")}`);
      for (const r of paged.records.slice(1)) assert.equal(r.pagesIn, chunks.reduce((a, b) => a + b, 0));
    }
  } finally {
    Object.assign(proto, originals);
  }
});

test("paged AdamW with a spill file keeps paged-out pages on disk and still matches resident", async () => {
  await resolveBackend({ force: "cpu" });
  const dir = mkdtempSync(join(tmpdir(), "qlora-lab-spill-"));
  try {
    const resident = run({ kind: "resident" }, 4, "spill-res");
    const model = makeTinyModel("spill-pag", DIMS, 16);
    const opt = new AdamW({ weightDecay: 0.01, state: { kind: "paged", budgetBytes: 4096, pageBytes: 2048, spillDir: dir } });
    const losses = [0, 1, 2, 3].map(() => trainStep(model, opt, 1e-2));
    assert.deepEqual(losses, resident.losses);
    assert.deepEqual(model.params.map((p) => Array.from(p.variable.dataSync())), resident.weights);
    assert.equal(readdirSync(dir).length, 1, "one spill file");
    const items = opt.memoryItems();
    assert.ok(items.some((i) => i.location === "disk" && i.category === "optimizer_paged_out" && !i.onBackend));
    assert.ok(items.every((i) => i.location !== "host"));
    // A checkpoint taken from pages on disk equals the resident one.
    const saved = opt.saveState();
    const residentSlots = Object.values(resident.saved.slots);
    Object.values(saved.slots).forEach((slot, i) => assert.deepEqual(slot.v, residentSlots[i]!.v));
    opt.dispose();
    model.dispose();
    assert.equal(readdirSync(dir).length, 0, "dispose removes the spill file");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("paged state resumes from a resident checkpoint and the reverse", async () => {
  await resolveBackend({ force: "cpu" });
  const full = run({ kind: "resident" }, 5, "resume-full");
  const model = makeTinyModel("resume-part", DIMS, 16);
  let opt = new AdamW({ weightDecay: 0.01 });
  for (let t = 0; t < 3; t++) trainStep(model, opt, 1e-2);
  const saved = opt.saveState();
  opt.dispose();
  opt = new AdamW({ weightDecay: 0.01, state: { kind: "paged", budgetBytes: 2048, pageBytes: 2048 } });
  opt.loadState(saved);
  assert.equal(opt.memoryItems().filter((i) => i.onBackend).length, 0, "loaded state starts paged out");
  for (let t = 3; t < 5; t++) trainStep(model, opt, 1e-2);
  assert.deepEqual(model.params.map((p) => Array.from(p.variable.dataSync())), full.weights);
  opt.dispose();
  model.dispose();
});

test("a budget smaller than one page is refused with a clear message", () => {
  assert.throws(() => new AdamW({ state: { kind: "paged", budgetBytes: 1000 } }), /AdamW: expected state.budgetBytes to hold at least one page \(1048576 bytes\), got 1000. Raise budgetBytes or lower pageBytes./);
  assert.throws(() => new AdamW({ state: { kind: "paged-8bit", budgetBytes: 1 << 20, pageBytes: 256 } }), /pageBytes to hold one 8-bit block \(520 bytes\), got 256/);
  assert.throws(() => new AdamW({ state: { kind: "paged", budgetBytes: 4096, pageBytes: 10.5 } }), /pageBytes to be an integer >= 64/);
});
