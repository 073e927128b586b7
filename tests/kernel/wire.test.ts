// Golden frames and HMAC for the wire layer; the expected signature comes from jupyter_client's Session.sign.
import { test } from "node:test";
import assert from "node:assert/strict";
import { childOf, decode, DELIMITER, encode, replyType, Signer, type JupyterMessage } from "../../kernel/wire.js";

const HEADER = '{"msg_id":"m1","session":"s1","username":"u","date":"2024-01-01T00:00:00.000Z","msg_type":"kernel_info_request","version":"5.4"}';
// jupyter_client.session.Session(key=b"secret-key").sign([HEADER, b"{}", b"{}", b"{}"])
const GOLDEN_SIGNATURE = "b113d1ab9cdb642652950968bd8691172648f2d286d2786f56a64e8a8488959c";

const frames = (signature: string, header = HEADER) => [Buffer.from("client-id"), Buffer.from(DELIMITER), Buffer.from(signature), Buffer.from(header), Buffer.from("{}"), Buffer.from("{}"), Buffer.from("{}")];

test("HMAC-SHA256 over header, parent, metadata, content matches jupyter_client", () => {
  const signer = new Signer("secret-key");
  assert.equal(signer.sign([HEADER, "{}", "{}", "{}"].map((s) => Buffer.from(s))), GOLDEN_SIGNATURE);
});

test("decode accepts the golden frames and keeps identities and parsed parts", () => {
  const result = decode(frames(GOLDEN_SIGNATURE), new Signer("secret-key"));
  assert.ok(result.ok);
  assert.deepEqual(result.message.identities.map((b) => b.toString()), ["client-id"]);
  assert.equal(result.message.header.msg_type, "kernel_info_request");
  assert.deepEqual(result.message.content, {});
});

test("decode refuses a bad signature, a wrong-length signature, a tampered header, and no delimiter", () => {
  const signer = new Signer("secret-key");
  const flipped = GOLDEN_SIGNATURE.slice(0, -1) + (GOLDEN_SIGNATURE.endsWith("c") ? "d" : "c");
  assert.deepEqual(decode(frames(flipped), signer), { ok: false, reason: "bad signature" });
  assert.deepEqual(decode(frames(GOLDEN_SIGNATURE.slice(0, 10)), signer), { ok: false, reason: "bad signature" });
  assert.deepEqual(decode(frames(GOLDEN_SIGNATURE, HEADER.replace("u", "v")), signer), { ok: false, reason: "bad signature" });
  assert.deepEqual(decode(frames(GOLDEN_SIGNATURE).filter((f) => f.toString() !== DELIMITER), signer), { ok: false, reason: "no delimiter" });
  assert.equal((decode(frames(GOLDEN_SIGNATURE).slice(0, 4), signer) as { reason: string }).reason, "too few frames");
});

test("an empty key disables signing: empty signature out, anything accepted in", () => {
  const signer = new Signer("");
  assert.equal(signer.sign([Buffer.from("x")]), "");
  assert.ok(decode(frames("whatever"), signer).ok);
});

test("malformed JSON and missing header fields are refused, not thrown", () => {
  const signer = new Signer("");
  assert.equal((decode(frames("", "{not json"), signer) as { reason: string }).reason, "malformed JSON");
  assert.equal((decode(frames("", '{"msg_id":"x"}'), signer) as { reason: string }).reason, "missing header fields");
});

test("encode -> decode round-trips; childOf sets parent_header, identities and a new msg_id", () => {
  const signer = new Signer("k");
  const parent = (decode(frames(new Signer("k").sign([HEADER, "{}", "{}", "{}"].map((s) => Buffer.from(s)))), signer) as { message: JupyterMessage }).message;
  const reply = childOf(parent, replyType(parent.header.msg_type), { status: "ok" }, { session: "kernel-session" });
  assert.equal(reply.header.msg_type, "kernel_info_reply");
  assert.equal(reply.parent_header.msg_id, "m1");
  assert.notEqual(reply.header.msg_id, "m1");
  assert.equal(reply.header.session, "kernel-session");
  assert.match(reply.header.date, /^\d{4}-\d\d-\d\dT/);
  const wire = encode(reply, signer);
  assert.equal(wire[0]!.toString(), "client-id");
  assert.equal(wire[1]!.toString(), DELIMITER);
  const back = decode(wire, signer);
  assert.ok(back.ok);
  assert.deepEqual(back.message.content, { status: "ok" });
  assert.equal(back.message.parent_header.msg_id, "m1");
});
