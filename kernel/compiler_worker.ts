// The compiler thread: creates tslab's converter once (about two seconds of TypeScript start-up; the
// library loads on the main thread once it is ready) and answers calls one at a time.
import { parentPort, workerData } from "node:worker_threads";
import { createCellCompiler, type CellCompiler } from "./compiler.js";

/** A call from the main thread. */
export interface CompilerCall {
  id: number;
  method: keyof CellCompiler;
  args: unknown[];
}

const compiler = createCellCompiler((workerData as { resolveFrom: string }).resolveFrom);
parentPort!.on("message", (call: CompilerCall) => {
  try {
    const result = (compiler[call.method] as (...args: unknown[]) => unknown)(...call.args);
    parentPort!.postMessage({ id: call.id, result });
  } catch (error) {
    parentPort!.postMessage({ id: call.id, error: (error as Error).stack ?? String(error) });
  }
});
parentPort!.postMessage({ id: 0, result: "ready" });
