// The socket thread: binds the connection file's sockets, echoes heartbeats, forwards frames to the main
// thread and sends what it is given, one send at a time per socket (zeromq 6 allows one in flight).
// An interrupt_request on control also goes to the interrupt watchdog, which stops a cell stuck in
// synchronous code (see interrupt_watchdog.ts).
import { createRequire } from "node:module";
import { join } from "node:path";
import { workerData } from "node:worker_threads";
import type * as Zmq from "zeromq";
import { endpoint } from "./connection.js";
import { InterruptWatchdog } from "./interrupt_watchdog.js";
import type { MainToWorker, TransportWorkerData, WorkerToMain } from "./transport.js";
import { decode, Signer, type Channel } from "./wire.js";

const { connection, port, resolveFrom, interrupts } = workerData as TransportWorkerData;
const watchdog = new InterruptWatchdog(interrupts);
const zmq = createRequire(join(resolveFrom, "transport_worker.js"))("zeromq") as typeof Zmq;
const signer = new Signer(connection.key, connection.signature_scheme);

/** One socket and the queue that serialises its sends. */
class Outbox {
  private chain: Promise<void> = Promise.resolve();
  constructor(readonly socket: Zmq.Router | Zmq.Publisher) {}
  push(frames: Uint8Array[]): void {
    this.chain = this.chain.then(() => this.socket.send(frames as Buffer[])).catch((error: Error) => {
      process.stderr.write(`qlora-lab kernel: send failed: ${error.message}\n`);
    });
  }
  drained(): Promise<void> {
    return this.chain;
  }
}

const post = (message: WorkerToMain, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

async function main(): Promise<void> {
  const shell = new zmq.Router();
  const control = new zmq.Router();
  const stdin = new zmq.Router();
  const iopub = new zmq.Publisher({ sendHighWaterMark: 0 });
  const hb = new zmq.Reply();
  for (const socket of [shell, control, stdin, iopub, hb]) socket.linger = 1000;
  await Promise.all([
    shell.bind(endpoint(connection, connection.shell_port)),
    control.bind(endpoint(connection, connection.control_port)),
    stdin.bind(endpoint(connection, connection.stdin_port)),
    iopub.bind(endpoint(connection, connection.iopub_port)),
    hb.bind(endpoint(connection, connection.hb_port)),
  ]);
  const outboxes: Record<Channel, Outbox> = { shell: new Outbox(shell), control: new Outbox(control), stdin: new Outbox(stdin), iopub: new Outbox(iopub) };

  void (async () => {
    for await (const frames of hb) await hb.send(frames);
  })().catch(() => undefined);

  const forward = (channel: "shell" | "control" | "stdin", socket: Zmq.Router) =>
    (async () => {
      for await (const frames of socket) {
        if (channel === "control") raiseSigintOnInterrupt(frames);
        const copies = frames.map((f) => new Uint8Array(f));
        post({ type: "frames", channel, frames: copies }, copies.map((c) => c.buffer as ArrayBuffer));
      }
    })().catch(() => undefined);
  forward("shell", shell);
  forward("control", control);
  forward("stdin", stdin);

  port.on("message", (message: MainToWorker) => {
    if (message.type === "send") outboxes[message.channel].push(message.frames);
    else if (message.type === "close") {
      void Promise.all(Object.values(outboxes).map((o) => o.drained())).then(() => {
        for (const socket of [shell, control, stdin, iopub, hb]) socket.close();
        post({ type: "closed" });
      });
    }
  });
  post({ type: "ready" });
}

/** The main thread may be busy in a cell's synchronous loop: the watchdog raises SIGINT and, if needed, stops it. */
function raiseSigintOnInterrupt(frames: Buffer[]): void {
  const decoded = decode(frames, signer);
  if (decoded.ok && decoded.message.header.msg_type === "interrupt_request") watchdog.request();
}

main().catch((error: Error) => post({ type: "error", message: error.message }));
