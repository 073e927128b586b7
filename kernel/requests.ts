// The requests this kernel answers (messaging spec 5.x), each with its content's shape, checked on
// arrival, and its reply's shape. The session's handler table is keyed by these types, so a handler
// receives checked content and the compiler holds it to its reply's type. A request whose content
// does not have its shape is answered with an error reply that says which field was wrong.
import type { ErrorContent } from "./wire.js";

/** execute_request content. */
export interface ExecuteRequest {
  code: string;
  silent?: boolean;
  store_history?: boolean;
  user_expressions?: Record<string, string>;
  allow_stdin?: boolean;
  stop_on_error?: boolean;
}

/** inspect_request content (cursor_pos in Unicode code points). */
export interface InspectRequest {
  code: string;
  cursor_pos: number;
  detail_level?: number;
}

/** complete_request content (cursor_pos in Unicode code points; the code's end when absent). */
export interface CompleteRequest {
  code: string;
  cursor_pos?: number;
}

/** history_request content. */
export interface HistoryRequest {
  hist_access_type: "range" | "tail" | "search";
  output?: boolean;
  raw?: boolean;
  session?: number;
  start?: number;
  stop?: number;
  n?: number;
  pattern?: string;
  unique?: boolean;
}

/** comm_open / comm_msg / comm_close content. */
export interface CommContent {
  comm_id: string;
  target_name?: string;
  data?: Record<string, unknown>;
}

/** Request content by msg_type. */
export interface RequestContent {
  kernel_info_request: Record<string, unknown>;
  shutdown_request: { restart?: boolean };
  interrupt_request: Record<string, unknown>;
  execute_request: ExecuteRequest;
  inspect_request: InspectRequest;
  complete_request: CompleteRequest;
  is_complete_request: { code: string };
  history_request: HistoryRequest;
  comm_info_request: { target_name?: string };
  comm_open: CommContent;
  comm_msg: CommContent;
  comm_close: CommContent;
}

export type RequestType = keyof RequestContent;

type Ok<T> = { status: "ok" } & T;

/** Reply content by request msg_type (comm messages have none); any reply may instead be an error. */
export interface ReplyContent {
  kernel_info_request: Ok<Record<string, unknown>>;
  shutdown_request: Ok<{ restart: boolean }>;
  interrupt_request: { status: "ok" };
  execute_request: Ok<{ execution_count: number; payload: Record<string, unknown>[]; user_expressions: Record<string, unknown> }> | ({ status: "error"; execution_count: number } & ErrorContent);
  inspect_request: Ok<{ found: boolean; data: Record<string, string>; metadata: Record<string, unknown> }>;
  complete_request: Ok<{ matches: string[]; cursor_start: number; cursor_end: number; metadata: Record<string, unknown> }>;
  is_complete_request: { status: "complete" | "invalid" | "unknown" } | { status: "incomplete"; indent: string };
  history_request: Ok<{ history: unknown[] }>;
  comm_info_request: Ok<{ comms: Record<string, { target_name: string }> }>;
  comm_open: void;
  comm_msg: void;
  comm_close: void;
}

/** An error reply: what every request gets when its content is not what the spec says. */
export type ErrorReply = { status: "error" } & ErrorContent;

type FieldKind = "string" | "boolean" | "integer" | "object" | "string record" | "access type";
/** Each request's fields: kind, and whether it must be present. */
type Shape = Record<string, { kind: FieldKind; required?: true }>;

const SHAPES: { [T in RequestType]: Shape } = {
  kernel_info_request: {},
  shutdown_request: { restart: { kind: "boolean" } },
  interrupt_request: {},
  execute_request: {
    code: { kind: "string", required: true },
    silent: { kind: "boolean" },
    store_history: { kind: "boolean" },
    user_expressions: { kind: "string record" },
    allow_stdin: { kind: "boolean" },
    stop_on_error: { kind: "boolean" },
  },
  inspect_request: { code: { kind: "string", required: true }, cursor_pos: { kind: "integer", required: true }, detail_level: { kind: "integer" } },
  complete_request: { code: { kind: "string", required: true }, cursor_pos: { kind: "integer" } },
  is_complete_request: { code: { kind: "string", required: true } },
  history_request: {
    hist_access_type: { kind: "access type", required: true },
    output: { kind: "boolean" },
    raw: { kind: "boolean" },
    session: { kind: "integer" },
    start: { kind: "integer" },
    stop: { kind: "integer" },
    n: { kind: "integer" },
    pattern: { kind: "string" },
    unique: { kind: "boolean" },
  },
  comm_info_request: { target_name: { kind: "string" } },
  comm_open: { comm_id: { kind: "string", required: true }, target_name: { kind: "string", required: true }, data: { kind: "object" } },
  comm_msg: { comm_id: { kind: "string", required: true }, data: { kind: "object" } },
  comm_close: { comm_id: { kind: "string", required: true }, data: { kind: "object" } },
};

/** True for a msg_type this kernel answers. */
export function isRequestType(type: string): type is RequestType {
  return Object.hasOwn(SHAPES, type);
}

/** The content checked against its request's shape: the typed content, or what is wrong with it. */
export function checkContent<T extends RequestType>(type: T, content: unknown): { ok: true; content: RequestContent[T] } | { ok: false; problem: string } {
  if (!isPlainObject(content)) return { ok: false, problem: `${type}: expected an object as content, got ${describe(content)}` };
  for (const [field, { kind, required }] of Object.entries(SHAPES[type])) {
    const value = content[field];
    // null counts as absent, as Jupyter's own clients send it for optional fields.
    if (value === undefined || value === null) {
      if (required) return { ok: false, problem: `${type}: expected ${field} (${kind}), got nothing` };
      continue;
    }
    if (!fits(kind, value)) return { ok: false, problem: `${type}: expected ${field} to be ${article(kind)}, got ${describe(value)}` };
  }
  return { ok: true, content: content as unknown as RequestContent[T] };
}

function fits(kind: FieldKind, value: unknown): boolean {
  switch (kind) {
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    case "integer":
      return Number.isSafeInteger(value);
    case "object":
      return isPlainObject(value);
    case "string record":
      return isPlainObject(value) && Object.values(value).every((v) => typeof v === "string");
    case "access type":
      return value === "range" || value === "tail" || value === "search";
  }
}

function article(kind: FieldKind): string {
  if (kind === "string record") return "an object of strings";
  if (kind === "access type") return '"range", "tail" or "search"';
  return `${/^[aeiou]/.test(kind) ? "an" : "a"} ${kind}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}
