// Jupyter's wire format (messaging spec 5.x, "The Wire Protocol"): frames, HMAC signatures and typed
// messages as plain data. No I/O: the transport moves the frames this module builds and parses.
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";

/** The frame that separates routing identities from the signed message. */
export const DELIMITER = "<IDS|MSG>";

/** The protocol version this kernel speaks (interrupt_mode "message" needs 5.3; kernel_info on control is 5.5). */
export const PROTOCOL_VERSION = "5.4";

/** The sockets a kernel serves (heartbeat echoes raw bytes and carries no messages). */
export type Channel = "shell" | "control" | "stdin" | "iopub";

/** A message header; `date` is ISO 8601 and mandatory since 5.1. */
export interface MessageHeader {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
  [extra: string]: unknown;
}

/** A decoded message (requests.ts types content by msg_type). */
export interface JupyterMessage<C = Record<string, unknown>> {
  /** Routing prefix: ROUTER identities on shell/control/stdin, the topic on IOPub. */
  identities: Buffer[];
  header: MessageHeader;
  /** The request's header for replies and side effects, `{}` when there is none. */
  parent_header: MessageHeader | Record<string, never>;
  metadata: Record<string, unknown>;
  content: C;
  buffers: Buffer[];
}

/** A MIME bundle as Jupyter sends it. */
export type MimeData = Record<string, unknown>;

/** Error fields shared by error replies and the IOPub `error` message. */
export interface ErrorContent {
  ename: string;
  evalue: string;
  traceback: string[];
}

/** The reply type of a request type: `execute_request` -> `execute_reply`. */
export function replyType(requestType: string): string {
  return requestType.replace(/_request$/, "_reply");
}

/** Signs and verifies with HMAC (sha256 by default); an empty key disables signing (signature ""). */
export class Signer {
  private readonly key: Buffer;
  private readonly algorithm: string;

  constructor(key: string, scheme = "hmac-sha256") {
    this.key = Buffer.from(key, "utf8");
    const match = /^hmac-(.+)$/.exec(scheme);
    if (!match) throw new Error(`Signer: expected signature_scheme "hmac-<hash>", got "${scheme}".`);
    this.algorithm = match[1]!;
  }

  /** True when messages carry signatures. */
  get enabled(): boolean {
    return this.key.length > 0;
  }

  /** Hex digest over header, parent_header, metadata and content as serialized bytes. */
  sign(parts: readonly Uint8Array[]): string {
    if (!this.enabled) return "";
    const hmac = createHmac(this.algorithm, this.key);
    for (const part of parts) hmac.update(part);
    return hmac.digest("hex");
  }

  /** Constant-time comparison of a received signature with the expected one. */
  verify(signature: Uint8Array, parts: readonly Uint8Array[]): boolean {
    if (!this.enabled) return true;
    const expected = Buffer.from(this.sign(parts), "utf8");
    const received = Buffer.from(signature);
    // Lengths are public (a hex digest has a fixed length); only the bytes need constant time.
    return expected.length === received.length && timingSafeEqual(expected, received);
  }
}

/** Why a frame list was refused. */
export type DecodeError = "no delimiter" | "too few frames" | "bad signature" | "malformed JSON" | "missing header fields";

/** Result of {@link decode}: a message, or the reason it was dropped. */
export type DecodeResult = { ok: true; message: JupyterMessage } | { ok: false; reason: DecodeError; detail?: string };

/** Parses and verifies `[ids..., <IDS|MSG>, signature, header, parent, metadata, content, buffers...]`. */
export function decode(frames: readonly Uint8Array[], signer: Signer): DecodeResult {
  const at = frames.findIndex((f) => f.length === DELIMITER.length && Buffer.from(f).toString("latin1") === DELIMITER);
  if (at < 0) return { ok: false, reason: "no delimiter" };
  if (frames.length < at + 6) return { ok: false, reason: "too few frames" };
  const [signature, header, parent, metadata, content] = frames.slice(at + 1, at + 6) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  if (!signer.verify(signature, [header, parent, metadata, content])) return { ok: false, reason: "bad signature" };
  let parsed: unknown[];
  try {
    parsed = [header, parent, metadata, content].map((f) => JSON.parse(Buffer.from(f).toString("utf8")));
  } catch (error) {
    return { ok: false, reason: "malformed JSON", detail: (error as Error).message };
  }
  const [h, p, m, c] = parsed as [MessageHeader, JupyterMessage["parent_header"], Record<string, unknown>, Record<string, unknown>];
  if (!isObject(h) || typeof h.msg_type !== "string" || typeof h.msg_id !== "string" || !isObject(c)) {
    return { ok: false, reason: "missing header fields" };
  }
  return {
    ok: true,
    message: {
      identities: frames.slice(0, at).map((f) => Buffer.from(f)),
      header: h,
      parent_header: isObject(p) ? p : {},
      metadata: isObject(m) ? m : {},
      content: c,
      buffers: frames.slice(at + 6).map((f) => Buffer.from(f)),
    },
  };
}

/** Serializes and signs a message into frames ready for a socket. */
export function encode(message: JupyterMessage<unknown>, signer: Signer): Buffer[] {
  const parts = [message.header, message.parent_header, message.metadata, message.content].map((part) => Buffer.from(JSON.stringify(part), "utf8"));
  return [...message.identities, Buffer.from(DELIMITER, "latin1"), Buffer.from(signer.sign(parts), "utf8"), ...parts, ...message.buffers];
}

/** A fresh header for a message this side originates. */
export function newHeader(msgType: string, session: string, username = "kernel"): MessageHeader {
  return { msg_id: randomUUID(), session, username, date: new Date().toISOString(), msg_type: msgType, version: PROTOCOL_VERSION };
}

/** Options for {@link childOf}. */
export interface ChildOptions {
  /** The kernel's session id (the child's header.session). */
  session: string;
  /** Routing identities; defaults to the parent's (replies) — IOPub passes its topic. */
  identities?: Buffer[];
  metadata?: Record<string, unknown>;
}

/** A reply or side effect of `parent`: new header, `parent_header` = the parent's header. */
export function childOf<C>(parent: JupyterMessage<unknown> | undefined, msgType: string, content: C, options: ChildOptions): JupyterMessage<C> {
  return {
    identities: options.identities ?? parent?.identities ?? [],
    header: newHeader(msgType, options.session, typeof parent?.header.username === "string" ? parent.header.username : "kernel"),
    parent_header: parent?.header ?? {},
    metadata: options.metadata ?? {},
    content,
    buffers: [],
  };
}

/** The IOPub topic frame for a msg_type, as ipykernel names it. */
export function iopubTopic(msgType: string): Buffer {
  return Buffer.from(`kernel.${msgType}`, "utf8");
}

function isObject(value: unknown): value is Record<string, never> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
