// A Jupyter client over zeromq, no Python: launches the kernel as a child process the way Jupyter's
// launcher does (127.0.0.1, fresh ports, a random HMAC key, a connection file only its owner can read,
// removed afterwards) and sends requests, collecting each one's reply and IOPub output.
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as zmq from "zeromq";
import { UnavailableError, expected } from "../lib/errors.js";
import { endpoint, newConnectionInfo, writeConnectionFile, type ConnectionInfo } from "../kernel/connection.js";
import { decode, encode, newHeader, Signer, type Channel, type JupyterMessage } from "../kernel/wire.js";

/** A request's reply and the IOPub messages it caused (busy..idle). */
export interface RequestResult {
  reply: JupyterMessage;
  iopub: JupyterMessage[];
}

/** Options of {@link KernelClient.launch}. */
export interface LaunchOptions {
  /** Command and arguments before `--connection-file F` (default: this qlora-lab's `kernel`). */
  command?: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** The flag before the connection file's path (tslab uses --config-path). */
  connectionFlag?: string;
  /** Where the kernel's stderr goes (default: inherited). */
  stderr?: "inherit" | "pipe" | "ignore";
}

interface Waiter {
  msgType: string;
  reply?: JupyterMessage;
  iopub: JupyterMessage[];
  idle: boolean;
  done: (result: RequestResult) => void;
  fail: (error: Error) => void;
}

/** How a kernel process ended: its exit code, or the signal that killed it. */
export interface KernelExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A request that ended without its reply; `iopub` holds the output it had caused so far. */
export class RequestFailedError extends UnavailableError {
  constructor(
    message: string,
    readonly iopub: JupyterMessage[],
  ) {
    super("KernelClient", message);
  }
}

/** The kernel process exited while requests were pending (a cell's process.exit, the OOM killer, a crash). */
export class KernelDiedError extends RequestFailedError {
  override name = "KernelDiedError";
  constructor(
    readonly exit: KernelExit,
    msgType: string,
    iopub: JupyterMessage[],
  ) {
    super(`the kernel died (${describeExit(exit)}) before replying to ${msgType}`, iopub);
  }
}

/** A request that got no reply within its time limit. */
export class RequestTimeoutError extends RequestFailedError {
  override name = "RequestTimeoutError";
  constructor(
    readonly timeoutMs: number,
    msgType: string,
    iopub: JupyterMessage[],
  ) {
    super(`no reply to ${msgType} within ${timeoutMs / 1000} s`, iopub);
  }
}

/** "signal SIGKILL" or "exit code 1". */
export function describeExit(exit: KernelExit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}

/** Time left after the kernel exits for messages it sent just before to arrive over zeromq. */
const DRAIN_AFTER_EXIT_MS = 200;

/** A running kernel and the client sockets talking to it. */
export class KernelClient {
  private readonly waiters = new Map<string, Waiter>();
  /** IOPub messages whose parent this client did not send (or that came after idle). */
  readonly strayIopub: JupyterMessage[] = [];
  /** Answers input_request (stdin); defaults to an empty line. */
  onInput: (prompt: string, password: boolean) => string | Promise<string> = () => "";
  private closed = false;
  /** Set once the kernel process has exited (and its last messages had time to arrive). */
  private exitStatus: KernelExit | undefined;
  /** Resolves when the kernel process has exited; never, for a kernel this client did not start. */
  readonly exited: Promise<KernelExit>;
  readonly signer: Signer;
  readonly session = randomUUID();

  private constructor(
    readonly connection: ConnectionInfo,
    readonly child: ChildProcess | undefined,
    private readonly dir: string | undefined,
    readonly sockets: { shell: zmq.Dealer; control: zmq.Dealer; stdin: zmq.Dealer; iopub: zmq.Subscriber },
  ) {
    this.signer = new Signer(connection.key, connection.signature_scheme);
    // Listen from the start: a kernel can die before, during or between requests, and the "exit"
    // event fires once. Its pending requests then fail instead of waiting forever.
    this.exited = new Promise<KernelExit>((resolve) => {
      child?.once("exit", (code, signal) => {
        setTimeout(() => {
          this.exitStatus = { code, signal };
          this.failPending((w) => new KernelDiedError(this.exitStatus!, w.msgType, w.iopub));
          resolve(this.exitStatus);
        }, DRAIN_AFTER_EXIT_MS);
      });
    });
    for (const channel of ["shell", "control", "stdin", "iopub"] as const) void this.listen(channel);
  }

  /** Starts a kernel process and connects to it (not yet ready: call {@link waitReady}). */
  static async launch(options: LaunchOptions = {}): Promise<KernelClient> {
    const connection = await newConnectionInfo();
    const dir = await mkdtemp(join(tmpdir(), "qlora-lab-run-"));
    const file = join(dir, "kernel.json");
    await writeConnectionFile(file, connection);
    const command = options.command ?? [process.execPath, fileURLToPath(new URL("../bin/qlora-lab.js", import.meta.url)), "kernel"];
    const child = spawn(command[0]!, [...command.slice(1), options.connectionFlag ?? "--connection-file", file], { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "inherit", options.stderr ?? "inherit"] });
    return KernelClient.connect(connection, child, dir);
  }

  /** Connects to a kernel that is already listening on `connection`. */
  static connect(connection: ConnectionInfo, child?: ChildProcess, dir?: string): KernelClient {
    const routingId = `qlora-lab-${randomUUID()}`;
    const sockets = {
      shell: new zmq.Dealer({ routingId, linger: 0 }),
      control: new zmq.Dealer({ linger: 0 }),
      stdin: new zmq.Dealer({ routingId, linger: 0 }),
      iopub: new zmq.Subscriber({ linger: 0 }),
    };
    sockets.shell.connect(endpoint(connection, connection.shell_port));
    sockets.control.connect(endpoint(connection, connection.control_port));
    sockets.stdin.connect(endpoint(connection, connection.stdin_port));
    sockets.iopub.connect(endpoint(connection, connection.iopub_port));
    sockets.iopub.subscribe();
    return new KernelClient(connection, child, dir, sockets);
  }

  /** Repeats kernel_info until a reply and an IOPub message arrive (jupyter_client's slow-joiner check). */
  async waitReady(timeoutMs = 60_000, retryMs = 1000): Promise<JupyterMessage> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exitStatus) throw new UnavailableError("KernelClient", expected("a running kernel", `the kernel died (${describeExit(this.exitStatus)})`));
      const attempt = this.request("shell", "kernel_info_request", {});
      const result = await Promise.race([attempt, sleep(retryMs).then(() => undefined), this.exited.then(() => undefined)]);
      if (result && result.iopub.length > 0) return result.reply;
    }
    throw new UnavailableError("KernelClient", expected(`a kernel_info reply within ${timeoutMs} ms`, "none"));
  }

  /**
   * Sends a request and resolves with its reply once the kernel has gone idle for it. Rejects with a
   * {@link KernelDiedError} when the kernel exits first, or a {@link RequestTimeoutError} after `timeoutMs`.
   */
  request(channel: "shell" | "control", msgType: string, content: Record<string, unknown>, options: { timeoutMs?: number } = {}): Promise<RequestResult> {
    const message: JupyterMessage<unknown> = { identities: [], header: newHeader(msgType, this.session, "qlora-lab"), parent_header: {}, metadata: {}, content, buffers: [] };
    const id = message.header.msg_id;
    if (this.exitStatus) return Promise.reject(new KernelDiedError(this.exitStatus, msgType, []));
    const promise = new Promise<RequestResult>((done, fail) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = () => {
        clearTimeout(timer);
        this.waiters.delete(id);
      };
      const waiter: Waiter = { msgType, iopub: [], idle: false, done: (r) => (settle(), done(r)), fail: (e) => (settle(), fail(e)) };
      this.waiters.set(id, waiter);
      if (options.timeoutMs !== undefined) timer = setTimeout(() => waiter.fail(new RequestTimeoutError(options.timeoutMs!, msgType, waiter.iopub)), options.timeoutMs);
    });
    void this.sockets[channel].send(encode(message, this.signer)).catch(() => undefined);
    // A request nobody awaits (an abandoned kernel_info retry, a fire-and-forget interrupt) may fail
    // when the kernel exits; that is no unhandled rejection. Callers that await still see the error.
    promise.catch(() => undefined);
    return promise;
  }

  /** execute_request with Jupyter's defaults (store_history, stop_on_error). */
  execute(code: string, options: { silent?: boolean; storeHistory?: boolean; allowStdin?: boolean; stopOnError?: boolean; userExpressions?: Record<string, string>; timeoutMs?: number } = {}): Promise<RequestResult> {
    return this.request(
      "shell",
      "execute_request",
      {
        code,
        silent: options.silent ?? false,
        store_history: options.storeHistory ?? true,
        user_expressions: options.userExpressions ?? {},
        allow_stdin: options.allowStdin ?? false,
        stop_on_error: options.stopOnError ?? true,
      },
      { timeoutMs: options.timeoutMs },
    );
  }

  /** Sends raw frames (tests: malformed and badly signed messages). */
  async sendRaw(channel: "shell" | "control", frames: (string | Buffer)[]): Promise<void> {
    await this.sockets[channel].send(frames);
  }

  /** Asks the kernel to shut down, waits for the process to exit (killing it after `timeoutMs`), cleans up. */
  async shutdown(timeoutMs = 10_000): Promise<number | null> {
    let code: number | null = null;
    if (this.child) {
      // exitCode stays null for a kernel killed by a signal, so ask the child whether it still runs.
      const running = this.child.exitCode === null && this.child.signalCode === null;
      if (running) {
        this.request("control", "shutdown_request", { restart: false }).catch(() => undefined);
        await Promise.race([this.exited, sleep(timeoutMs)]);
        if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
      }
      code = (await this.exited).code;
    }
    this.failPending((w) => new RequestFailedError(`the client shut down before ${w.msgType} got its reply`, w.iopub));
    await this.close();
    return code;
  }

  private failPending(error: (waiter: Waiter) => Error): void {
    for (const waiter of [...this.waiters.values()]) waiter.fail(error(waiter));
  }

  /** Closes the sockets and removes the connection file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const socket of Object.values(this.sockets)) socket.close();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }

  private async listen(channel: Channel): Promise<void> {
    const socket = this.sockets[channel];
    try {
      for await (const frames of socket) {
        const decoded = decode(frames, this.signer);
        if (!decoded.ok) continue;
        this.dispatch(channel, decoded.message);
      }
    } catch {
      // Socket closed.
    }
  }

  private dispatch(channel: Channel, message: JupyterMessage): void {
    if (channel === "stdin" && message.header.msg_type === "input_request") {
      const { prompt, password } = message.content as { prompt: string; password: boolean };
      void Promise.resolve(this.onInput(prompt, password)).then((value) => {
        const reply: JupyterMessage<unknown> = { identities: [], header: newHeader("input_reply", this.session, "qlora-lab"), parent_header: message.header, metadata: {}, content: { value }, buffers: [] };
        void this.sockets.stdin.send(encode(reply, this.signer));
      });
      return;
    }
    const parentId = (message.parent_header as { msg_id?: string }).msg_id;
    const waiter = parentId ? this.waiters.get(parentId) : undefined;
    if (!waiter) {
      if (channel === "iopub") this.strayIopub.push(message);
      return;
    }
    if (channel === "iopub") {
      if (message.header.msg_type === "status" && (message.content as { execution_state?: string }).execution_state === "idle") waiter.idle = true;
      else waiter.iopub.push(message);
    } else waiter.reply = message;
    if (waiter.reply && waiter.idle) waiter.done({ reply: waiter.reply, iopub: waiter.iopub });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
