// Batching: prompt tokens masked out, targets shifted by one, padding masked, packing covers every
// token once, and the sampler's order follows from seed and position alone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EpochSampler, makeBatch, packExamples, tokenizeExamples } from "../../../lib/train/index.js";
import { shippedTokenizer } from "./helpers.js";

test("prompt/response examples count only the response and EOS; text counts everything", async () => {
  const tok = await shippedTokenizer();
  const prompt = "Tom went to the park.\nQ: Who went to the park?\nA:";
  const [pair, text] = tokenizeExamples([{ prompt, response: " Tom" }, { text: "Tom was happy." }], tok, 64);
  const promptIds = tok.encode(prompt, { bos: true });
  const responseIds = tok.encode(" Tom", { bos: false });
  assert.deepEqual(pair!.ids, [...promptIds, ...responseIds, tok.eosId]);
  assert.deepEqual(pair!.counted, [...promptIds.map(() => 0), ...responseIds.map(() => 1), 1]);
  assert.equal(text!.ids[0], tok.bosId);
  assert.deepEqual(text!.counted.slice(1), text!.ids.slice(1).map(() => 1));

  const batch = makeBatch([pair!, text!], tok.eosId);
  assert.equal(batch.time, Math.max(pair!.ids.length, text!.ids.length) - 1);
  assert.equal(batch.targets[0], pair!.ids[1]);
  assert.equal(batch.countedTokens, responseIds.length + 1 + text!.ids.length - 1);
  const row1Mask = Array.from(batch.mask.slice(batch.time, 2 * batch.time));
  assert.deepEqual(row1Mask, [...text!.ids.slice(1).map(() => 1), ...new Array(batch.time - text!.ids.length + 1).fill(0)], "padding is masked");
});

test("long prompts lose their start, never the response; long texts become windows", async () => {
  const tok = await shippedTokenizer();
  const long = "Tom went to the park. ".repeat(20);
  const [seq] = tokenizeExamples([{ prompt: long, response: " Mia" }], tok, 16);
  assert.equal(seq!.ids.length, 17);
  assert.equal(seq!.ids[0], tok.bosId);
  assert.deepEqual(seq!.ids.slice(-2), [...tok.encode(" Mia", { bos: false }), tok.eosId]);
  const windows = tokenizeExamples([{ text: long }], tok, 16);
  const all = [tok.bosId, ...tok.encode(long, { bos: false }), tok.eosId];
  const targets = windows.flatMap((w) => w.ids.slice(1));
  assert.deepEqual(targets, all.slice(1), "every token is a target exactly once");
});

test("packing fills windows exactly, one shared token between windows", async () => {
  const tok = await shippedTokenizer();
  const examples = Array.from({ length: 12 }, (_, i) => ({ text: `Story ${i}: Lily found a red ball.` }));
  const packed = packExamples(examples, tok, 20);
  assert.ok(packed.length >= 3);
  for (const w of packed) assert.equal(w.ids.length, 21);
  for (let i = 1; i < packed.length; i++) assert.equal(packed[i]!.ids[0], packed[i - 1]!.ids[20]);
  const stream = examples.flatMap((e) => [tok.bosId, ...tok.encode(e.text, { bos: false }), tok.eosId]);
  assert.deepEqual(packed.flatMap((w, i) => (i === 0 ? w.ids : w.ids.slice(1))), stream.slice(0, 20 * packed.length + 1));
});

test("the sampler visits every index once per epoch and resumes from its state", () => {
  const a = new EpochSampler(10, 3);
  const first = a.next(10);
  assert.deepEqual([...first].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const more = a.next(7);
  const b = new EpochSampler(10, 3);
  b.next(4);
  const resumed = new EpochSampler(10, 3, { ...b.state });
  assert.deepEqual([...resumed.next(6), ...resumed.next(7)], [...first.slice(4), ...more]);
  assert.notDeepEqual(new EpochSampler(10, 4).next(10), first, "another seed, another order");
});
