// The zeromq transport: the five sockets of a connection file (shell/control/stdin ROUTER, iopub PUB,
// heartbeat REP) living in a worker thread, so heartbeats and interrupts are served while a cell blocks
// the main thread. It moves frames only; the session decides what they mean.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import type { ConnectionInfo } from "./connection.js";
import type { Channel } from "./wire.js";

/** Frames received on one channel (heartbeat never reaches the session). */
export interface IncomingFrames {
  channel: Exclude<Channel, "iopub">;
  frames: Buffer[];
}

/** What the session needs from a transport; tests pass a fake. */
export interface KernelTransport {
  /** Registers the one receiver of incoming frames. */
  onFrames(handler: (incoming: IncomingFrames) => void): void;
  /** Queues frames for sending on a channel, in call order. */
  send(channel: Channel, frames: Buffer[]): void;
  /** Synchronously takes frames that arrived but were not yet delivered (stop_on_error aborts them). */
  takePending(): IncomingFrames[];
  /** Sends everything queued, then closes the sockets. */
  close(): Promise<void>;
}

/** Messages from the worker to the main thread. */
export type WorkerToMain = { type: "frames"; channel: IncomingFrames["channel"]; frames: Uint8Array[] } | { type: "ready" } | { type: "closed" } | { type: "error"; message: string };

/** Messages from the main thread to the worker. */
export type MainToWorker = { type: "send"; channel: Channel; frames: Uint8Array[] } | { type: "close" };

/** Data the worker starts with. */
export interface TransportWorkerData {
  connection: ConnectionInfo;
  port: MessagePort;
  /** Directory to resolve `zeromq` from (the worker runs from an eval'd bundle). */
  resolveFrom: string;
  /** The interrupt state shared with the main thread (createInterruptState). */
  interrupts: Int32Array;
}

/** Starts the socket worker and resolves once every socket is bound; `interrupts` is shared with the executor. */
export async function startTransport(connection: ConnectionInfo, interrupts: Int32Array): Promise<KernelTransport> {
  const { port1: mainPort, port2: workerPort } = new MessageChannel();
  const source = await bundleWorker(new URL("./transport_worker.ts", import.meta.url));
  const workerData: TransportWorkerData = { connection, port: workerPort, resolveFrom: fileURLToPath(new URL(".", import.meta.url)), interrupts };
  const worker = new Worker(source, { eval: true, workerData, transferList: [workerPort] });
  worker.unref();
  let handler: ((incoming: IncomingFrames) => void) | undefined;
  const early: IncomingFrames[] = [];
  let closed: (() => void) | undefined;
  await new Promise<void>((resolve, reject) => {
    worker.once("error", reject);
    mainPort.on("message", (message: WorkerToMain) => {
      if (message.type === "ready") resolve();
      else if (message.type === "error") reject(new Error(message.message));
      else if (message.type === "closed") closed?.();
      else if (message.type === "frames") {
        const incoming = { channel: message.channel, frames: message.frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength)) };
        if (handler) handler(incoming);
        else early.push(incoming);
      }
    });
  });
  return {
    onFrames(h) {
      handler = h;
      for (const incoming of early.splice(0)) h(incoming);
    },
    send(channel, frames) {
      mainPort.postMessage({ type: "send", channel, frames } satisfies MainToWorker);
    },
    takePending() {
      const taken: IncomingFrames[] = [];
      for (let m = receiveMessageOnPort(mainPort); m; m = receiveMessageOnPort(mainPort)) {
        const message = m.message as WorkerToMain;
        if (message.type === "frames") taken.push({ channel: message.channel, frames: message.frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength)) });
        else if (message.type === "closed") closed?.();
      }
      return taken;
    },
    close() {
      return new Promise<void>((resolve) => {
        closed = () => {
          mainPort.close();
          void worker.terminate().then(() => resolve());
        };
        mainPort.postMessage({ type: "close" } satisfies MainToWorker);
      });
    },
  };
}

/**
 * Bundles a worker entry (TypeScript) into one CommonJS script with esbuild (tsx's compiler), so the
 * worker starts in milliseconds without a loader thread of its own.
 */
export async function bundleWorker(entry: URL, external: string[] = []): Promise<string> {
  const esbuild = await import("esbuild");
  const result = esbuild.buildSync({
    entryPoints: [fileURLToPath(entry)],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    write: false,
    external: ["zeromq", ...external],
    logLevel: "silent",
  });
  return result.outputFiles[0]!.text;
}
