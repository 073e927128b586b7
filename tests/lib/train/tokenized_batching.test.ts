// Pre-tokenized rows: labels -100 are not counted, other labels become the targets, rows are cut to
// maxLength + 1 tokens, and a sampler without shuffle gives the file order, epoch after epoch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EpochSampler, makeBatch, sequencesFromRows } from "../../../lib/train/index.js";

test("rows with labels count only positions whose label is not -100, and use the labels as targets", () => {
  const [plain, masked, relabelled] = sequencesFromRows(
    [{ inputIds: [1, 5, 6, 7] }, { inputIds: [1, 5, 6, 7], labels: [-100, -100, 6, 7] }, { inputIds: [1, 5, 6], labels: [1, 9, 8] }],
    8,
  );
  assert.deepEqual(plain, { ids: [1, 5, 6, 7], counted: [0, 1, 1, 1] });
  assert.deepEqual(masked, { ids: [1, 5, 6, 7], counted: [0, 0, 1, 1] }, "labels equal to the ids need no copy");
  assert.deepEqual(relabelled, { ids: [1, 5, 6], counted: [0, 1, 1], labels: [1, 9, 8] });
  const batch = makeBatch([masked!, relabelled!], 2);
  assert.deepEqual([...batch.inputIds], [1, 5, 6, 1, 5, 2]);
  assert.deepEqual([...batch.targets], [5, 6, 7, 9, 8, 2], "targets are the labels, shifted by one");
  assert.deepEqual([...batch.mask], [0, 1, 1, 1, 1, 0], "-100 and padding do not count");
  assert.equal(batch.countedTokens, 4);
});

test("rows longer than maxLength + 1 tokens are cut", () => {
  const [row] = sequencesFromRows([{ inputIds: [1, 2, 3, 4, 5, 6], labels: [-100, 2, 3, 4, 5, 6] }], 3);
  assert.deepEqual(row, { ids: [1, 2, 3, 4], counted: [0, 1, 1, 1] });
  assert.throws(() => sequencesFromRows([{ inputIds: [1, 2] }], 1), { message: "sequencesFromRows: expected maxLength to be an integer >= 2, got 1." });
});

test("a sampler without shuffle draws the rows in order, wrapping into the next epoch", () => {
  const sampler = new EpochSampler(5, 0, undefined, false);
  assert.deepEqual([sampler.next(4), sampler.next(4)], [[0, 1, 2, 3], [4, 0, 1, 2]]);
  assert.deepEqual(sampler.state, { epoch: 1, cursor: 3 });
  assert.notDeepEqual(new EpochSampler(5, 0).next(5), [0, 1, 2, 3, 4], "the default still shuffles");
});
