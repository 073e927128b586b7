// The main thread's handle on the compiler thread: each CellCompiler method as an async call.
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";
import type { CellCompiler } from "./compiler.js";
import type { CompilerCall } from "./compiler_worker.js";
import { bundleWorker } from "./transport.js";

/** CellCompiler with every method returning a promise. */
export type AsyncCellCompiler = { [K in keyof CellCompiler]: (...args: Parameters<CellCompiler[K]>) => Promise<ReturnType<CellCompiler[K]>> } & {
  /** Resolves once the converter exists. */
  ready: Promise<void>;
  close(): Promise<void>;
};

/** Starts the compiler thread; calls made before it is ready wait for it. */
export async function startCompiler(): Promise<AsyncCellCompiler> {
  const source = await bundleWorker(new URL("./compiler_worker.ts", import.meta.url), ["@tslab/typescript-for-tslab", "tslab"]);
  const worker = new Worker(source, { eval: true, workerData: { resolveFrom: fileURLToPath(new URL(".", import.meta.url)) } });
  worker.unref();
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let markReady!: () => void;
  let failReady!: (e: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => undefined);
  worker.on("message", (message: { id: number; result?: unknown; error?: string }) => {
    if (message.id === 0) return markReady();
    const call = pending.get(message.id);
    pending.delete(message.id);
    if (!call) return;
    if (message.error !== undefined) call.reject(new Error(message.error));
    else call.resolve(message.result);
  });
  worker.on("error", (error) => {
    failReady(error);
    for (const call of pending.values()) call.reject(error);
    pending.clear();
  });
  const call = (method: keyof CellCompiler) => async (...args: unknown[]) => {
    await ready;
    return new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, method, args } satisfies CompilerCall);
    });
  };
  return {
    ready,
    convert: call("convert"),
    inspect: call("inspect"),
    complete: call("complete"),
    isComplete: call("isComplete"),
    exportedNames: call("exportedNames"),
    typescriptVersion: call("typescriptVersion"),
    close: async () => {
      await worker.terminate();
    },
  } as AsyncCellCompiler;
}
