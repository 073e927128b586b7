// The kernel's composition root: start the compiler thread, bind the sockets (a worker thread) and
// answer kernel_info at once; the library loads once the compiler is up. A first cell waits for the
// compiler, and for the library only when it uses it.
import { readFileSync } from "node:fs";
import { OutputRouter } from "./cell_context.js";
import { startCompiler } from "./compiler_client.js";
import { readConnectionFile, type ConnectionInfo } from "./connection.js";
import { Executor } from "./executor.js";
import { refuseExitInCells } from "./exit_guard.js";
import { createInterruptState, installForcedStopPreparation, takeWatchdogSignal } from "./interrupt_watchdog.js";
import { Session } from "./session.js";
import { startTransport } from "./transport.js";
import { PROTOCOL_VERSION, Signer } from "./wire.js";

/** Options of {@link startKernel}. */
export interface StartKernelOptions {
  /** Exit the process after shutdown_request (default true; tests embedding a kernel pass false). */
  exitOnShutdown?: boolean;
}

/** Runs a kernel for a connection file until shutdown_request. */
export async function startKernel(connectionFile: string | ConnectionInfo, options: StartKernelOptions = {}): Promise<{ session: Session; done: Promise<void> }> {
  const connection = typeof connectionFile === "string" ? readConnectionFile(connectionFile) : connectionFile;
  const log = process.stderr.write.bind(process.stderr);
  // Jupyter treats an empty key as "do not sign"; a kernel anyone on this machine can drive deserves a word.
  if (connection.key === "") log("qlora-lab kernel: the connection file's key is empty, so messages are not signed and any local process can run code in this kernel\n");
  // The compiler thread first: TypeScript's start-up is the longest step before a first result.
  const compilerStarted = startCompiler();
  const interrupts = createInterruptState();
  const transport = await startTransport(connection, interrupts);
  const router = new OutputRouter();
  const compiler = await compilerStarted;
  const executor = new Executor(compiler, router, { interrupts });
  router.install();
  installForcedStopPreparation(() => router.suspendTracking());
  refuseExitInCells(router);
  const version = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const session = new Session({
    transport,
    signer: new Signer(connection.key, connection.signature_scheme),
    runner: executor,
    log: (line) => log(`${line}\n`),
    kernelInfo: () => ({
      protocol_version: PROTOCOL_VERSION,
      implementation: "qlora-lab",
      implementation_version: version,
      language_info: {
        name: "typescript",
        version: executor.languageVersion(),
        mimetype: "text/typescript",
        file_extension: ".ts",
        pygments_lexer: "typescript",
        codemirror_mode: { name: "javascript", typescript: true },
        nbconvert_exporter: "script",
      },
      banner: `qlora-lab ${version}: TypeScript on Node ${process.version} with qlora-lab, tf and display() in scope`,
      help_links: [{ text: "qlora-lab", url: "https://www.npmjs.com/package/qlora-lab" }],
      supported_features: [],
      debugger: false,
    }),
    onShutdown: async () => {
      await transport.close();
      await compiler.close();
      finish();
      if (options.exitOnShutdown ?? true) process.exit(0);
    },
  });
  // SIGINT (from a terminal, a signal-mode front end, or our socket thread on interrupt_request) stops
  // the running cell; vm's breakOnSigint covers synchronous code before the cell's first await, this
  // listener the awaits. Synchronous code after an await is stopped by the socket thread's watchdog on
  // interrupt_request only: a plain SIGINT cannot reach a main thread that never returns to its loop.
  // A SIGINT the watchdog raised for an interrupt_request is left to that request's own message (it may
  // reach this listener only after the interrupted cell ended and the next began).
  process.on("SIGINT", () => {
    if (!takeWatchdogSignal(interrupts)) executor.interrupt();
  });
  // A cell's stray async failure must never take the kernel down; it is reported in that cell.
  process.on("uncaughtException", (error) => reportStray(router, error));
  process.on("unhandledRejection", (reason) => reportStray(router, reason));
  session.start();
  return { session, done };
}

function reportStray(router: OutputRouter, error: unknown): void {
  const text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  const context = router.current();
  if (context) context.write("stderr", `Uncaught (in async code): ${text}\n`);
  else process.stderr.write(`qlora-lab kernel: uncaught: ${text}\n`);
}
