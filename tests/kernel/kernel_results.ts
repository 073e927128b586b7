// Reading a real kernel's answers in tests: a request's reply content, its IOPub messages of one type,
// and the text/plain of a cell's execute_result.
import assert from "node:assert/strict";
import type { RequestResult } from "../../client/kernel_client.js";

/** The reply's content. */
export const content = (r: RequestResult) => r.reply.content as Record<string, unknown>;

/** The contents of the IOPub messages of one type the request caused. */
export const ofType = (r: RequestResult, type: string) => r.iopub.filter((m) => m.header.msg_type === type).map((m) => m.content as Record<string, unknown>);

/** The cell's execute_result as text/plain; fails with the cell's error when it did not succeed. */
export function resultText(r: RequestResult): string | undefined {
  const reply = content(r);
  assert.equal(reply.status, "ok", `${String(reply.ename)}: ${String(reply.evalue)}\n${(reply.traceback as string[] | undefined)?.join("\n") ?? ""}`);
  const result = ofType(r, "execute_result")[0];
  return result ? (result.data as Record<string, string>)["text/plain"] : undefined;
}
