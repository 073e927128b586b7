// KernelClient when its kernel process dies: pending requests fail with the signal or exit code
// instead of waiting forever, later requests fail at once, and shutdown returns.
import { test } from "node:test";
import assert from "node:assert/strict";
import { KernelClient, KernelDiedError } from "../../client/kernel_client.js";

test("a kernel killed by a signal fails every pending request, then new ones, and shutdown returns", { timeout: 120_000 }, async () => {
  const client = await KernelClient.launch({ stderr: "pipe" });
  try {
    await client.waitReady(90_000);
    const sleeping = client.execute("await new Promise((r) => setTimeout(r, 60_000))");
    const info = client.request("shell", "kernel_info_request", {});
    await new Promise((r) => setTimeout(r, 300));
    client.child!.kill("SIGKILL");
    for (const pending of [sleeping, info]) {
      await assert.rejects(pending, (error: unknown) => {
        assert.ok(error instanceof KernelDiedError, String(error));
        assert.equal(error.exit.signal, "SIGKILL");
        assert.match(error.message, /the kernel died \(signal SIGKILL\)/);
        return true;
      });
    }
    await assert.rejects(client.execute("1"), /the kernel died \(signal SIGKILL\) before replying to execute_request/);
    await assert.rejects(client.waitReady(5_000), /the kernel died \(signal SIGKILL\)/);
  } finally {
    const started = Date.now();
    assert.equal(await client.shutdown(), null);
    assert.ok(Date.now() - started < 2_000, "shutdown of a dead kernel does not wait for an exit that already happened");
  }
});
