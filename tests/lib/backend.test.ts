import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import * as tf from "@tensorflow/tfjs-core";
import { backendOverride, formatBackendReport, resolveBackend } from "../../lib/backend.js";
import { InvalidArgumentError, UnavailableError } from "../../lib/errors.js";

const require = createRequire(import.meta.url);
function installed(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

test("forcing wasm activates the wasm backend and reports the others as skipped", async () => {
  const report = await resolveBackend({ env: { QLORA_LAB_BACKEND: "wasm" } });
  assert.equal(report.active, "wasm");
  assert.equal(tf.getBackend(), "wasm");
  assert.equal(report.forcedBy, "QLORA_LAB_BACKEND=wasm");
  const node = report.candidates.find((c) => c.package === "@tensorflow/tfjs-node")!;
  assert.equal(node.outcome, "skipped");
  assert.equal(node.reason, "QLORA_LAB_BACKEND=wasm");
  assert.equal(tf.add(tf.scalar(2), tf.scalar(3)).dataSync()[0], 5);
});

test("forcing cpu activates the cpu backend", async () => {
  const report = await resolveBackend({ force: "cpu" });
  assert.equal(report.active, "cpu");
  assert.equal(tf.getBackend(), "cpu");
  assert.deepEqual(report.candidates.map((c) => c.outcome), ["skipped", "skipped", "skipped", "active"]);
});

test("without an override, the first backend that loads wins and missing ones are reported", async () => {
  const report = await resolveBackend({ env: {} });
  const expectedActive = installed("@tensorflow/tfjs-node-gpu") || installed("@tensorflow/tfjs-node") ? undefined : "wasm";
  if (expectedActive) assert.equal(report.active, expectedActive);
  for (const candidate of report.candidates) {
    if (!installed(candidate.package)) {
      assert.equal(candidate.outcome, "skipped");
      assert.equal(candidate.reason, "not installed");
    }
  }
  assert.match(formatBackendReport(report), new RegExp(`^${report.active}`));
});

test("forcing a backend whose package is missing fails with a clear error", { skip: installed("@tensorflow/tfjs-node") ? "tfjs-node is installed here" : false }, async () => {
  await assert.rejects(resolveBackend({ force: "tensorflow" }), (error: Error) => {
    assert.ok(error instanceof UnavailableError);
    assert.match(error.message, /tfjs-node: not installed/);
    assert.match(error.message, /Unset QLORA_LAB_BACKEND/);
    return true;
  });
});

test("an unknown QLORA_LAB_BACKEND names the allowed values", () => {
  assert.throws(() => backendOverride({ env: { QLORA_LAB_BACKEND: "webgl" } }), (error: Error) => {
    assert.ok(error instanceof InvalidArgumentError);
    assert.match(error.message, /expected QLORA_LAB_BACKEND to be one of tensorflow, wasm, cpu, got "webgl"/);
    return true;
  });
  assert.equal(backendOverride({ env: {} }), undefined);
});
