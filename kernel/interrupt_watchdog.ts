// Stopping a cell stuck in synchronous code where SIGINT cannot. Before a cell's first await, vm's
// breakOnSigint stops it; after one, the cell's code runs from the microtask queue, where neither that
// nor the main thread's SIGINT listener can act until the code returns. The socket thread still serves
// interrupt_request: it waits briefly for the main thread to take the interrupt and, if it does not,
// pauses the main thread through the inspector. When the paused stack is a cell's own code (and not the
// executor's synchronous call into it), it terminates that execution: the main thread unwinds to the
// event loop, takes the pending interrupt and reports where the cell was stopped.
import { Session } from "node:inspector";

/** Slots of the interrupt state shared by the main thread and the socket thread (an Int32Array). */
const REQUESTED = 0;
const ACKNOWLEDGED = 1;
const FORCED = 2;
const FORCED_CELL = 3;
const FORCED_LINE = 4;
const FORCED_COLUMN = 5;
/** SIGINTs the watchdog raised that no one has taken yet (see takeWatchdogSignal). */
const SIGNALS = 6;
const SLOTS = 7;

/** The main thread's function (a global symbol) that readies it for a forced stop; answers true when ready. */
const PREPARE_FORCED_STOP = Symbol.for("qlora-lab.kernel.prepare-forced-stop");

/**
 * Gives the socket thread's watchdog the main thread's preparation for a forced stop (the router's
 * suspendTracking). The watchdog reaches it through the inspector's Runtime.evaluate, which sees only
 * globals, hence a global symbol; the kernel's composition root installs it once.
 */
export function installForcedStopPreparation(prepare: () => boolean): void {
  (globalThis as unknown as Record<symbol, unknown>)[PREPARE_FORCED_STOP] = prepare;
}

/** Where a forced stop found the cell: `In[cell]:line:column` of the compiled cell (one-based). */
export interface ForcedStop {
  cell: number;
  line: number;
  column: number;
}

/** The state shared between the threads; create it on the main thread and pass it to the socket thread. */
export function createInterruptState(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT));
}

/** The main thread took the interrupts requested so far; returns where a forced stop found the cell, if one did. */
export function acknowledgeInterrupt(state: Int32Array): ForcedStop | undefined {
  Atomics.store(state, ACKNOWLEDGED, Atomics.load(state, REQUESTED));
  if (Atomics.exchange(state, FORCED, 0) === 0) return undefined;
  return { cell: Atomics.load(state, FORCED_CELL), line: Atomics.load(state, FORCED_LINE), column: Atomics.load(state, FORCED_COLUMN) };
}

/**
 * Takes one SIGINT the watchdog raised, if one is outstanding: true when the SIGINT being handled is the
 * watchdog's. Its interrupt_request also reaches the main thread as a message, which interrupts the
 * cell; the signal is only for vm's breakOnSigint, so a listener that sees it later (possibly while the
 * next cell runs) must not interrupt again.
 */
export function takeWatchdogSignal(state: Int32Array): boolean {
  for (;;) {
    const outstanding = Atomics.load(state, SIGNALS);
    if (outstanding <= 0) return false;
    if (Atomics.compareExchange(state, SIGNALS, outstanding, outstanding - 1) === outstanding) return true;
  }
}

/** Options of {@link InterruptWatchdog}. */
export interface WatchdogOptions {
  /** How long the main thread has to take an interrupt before its stack is looked at (ms). */
  graceMs: number;
  /** How many times to look again while the main thread is busy in something other than a cell. */
  attempts: number;
}

const CELL_URL = /^(?:In\[(\d+)\]|user_expression)$/;
/** Frames that must finish for the kernel to answer: an execution stopped below them would leave a request unanswered. */
const KERNEL_URL = /\/kernel\/(?:executor|cell_wrapper|session|main)\.ts$/;

/** Runs on the socket thread: raises SIGINT for each interrupt_request and escalates when it is not taken. */
export class InterruptWatchdog {
  private busy = false;

  constructor(
    private readonly state: Int32Array,
    private readonly options: WatchdogOptions = { graceMs: 500, attempts: 20 },
  ) {}

  /** An interrupt_request arrived. */
  request(): void {
    const id = Atomics.add(this.state, REQUESTED, 1) + 1;
    Atomics.add(this.state, SIGNALS, 1);
    process.kill(process.pid, "SIGINT");
    this.checkLater(id, this.options.attempts);
  }

  private checkLater(id: number, attemptsLeft: number): void {
    setTimeout(() => {
      if (Atomics.load(this.state, ACKNOWLEDGED) >= id || attemptsLeft <= 0 || this.busy) return;
      this.busy = true;
      void this.stopStuckCell()
        .catch(() => false)
        .then((stopped) => {
          this.busy = false;
          if (!stopped) this.checkLater(id, attemptsLeft - 1);
        });
    }, this.options.graceMs).unref();
  }

  /** Pauses the main thread; terminates the running script when it is a cell's. Resolves true when it did. */
  private stopStuckCell(): Promise<boolean> {
    const inspector = new Session();
    inspector.connectToMainThread();
    const urls = new Map<string, string>();
    inspector.on("Debugger.scriptParsed", (m) => urls.set(m.params.scriptId, m.params.url));
    const post = (method: string, params?: object) => new Promise<unknown>((resolve, reject) => inspector.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
    const finish = async (stopped: boolean) => {
      await post("Debugger.disable").catch(() => undefined);
      inspector.disconnect();
      return stopped;
    };
    return new Promise<boolean>((resolve) => {
      // A main thread that is not running code pauses only when it next runs some: give up after a while.
      const timer = setTimeout(() => void finish(false).then(resolve), 2000);
      inspector.once("Debugger.paused", (m) => {
        clearTimeout(timer);
        const frames = m.params.callFrames.map((f) => ({ url: urls.get(f.location.scriptId) ?? f.url, line: f.location.lineNumber, column: f.location.columnNumber ?? 0 }));
        const top = frames.findIndex((f) => CELL_URL.test(f.url));
        const stoppable = top >= 0 && !frames.slice(top).some((f) => KERNEL_URL.test(f.url));
        const act = async () => {
          // terminateExecution answers once the execution has unwound, which needs the thread resumed.
          let terminated: Promise<unknown> = Promise.resolve();
          const prepare = `globalThis[Symbol.for(${JSON.stringify(PREPARE_FORCED_STOP.description)})]?.() === true`;
          const ready = stoppable && ((await post("Runtime.evaluate", { expression: prepare, returnByValue: true })) as { result?: { value?: unknown } }).result?.value === true;
          if (ready) {
            const cell = Number(CELL_URL.exec(frames[top]!.url)![1] ?? 0);
            Atomics.store(this.state, FORCED_CELL, cell);
            Atomics.store(this.state, FORCED_LINE, frames[top]!.line + 1);
            Atomics.store(this.state, FORCED_COLUMN, frames[top]!.column + 1);
            Atomics.store(this.state, FORCED, 1);
            terminated = post("Runtime.terminateExecution");
          }
          await post("Debugger.resume");
          await terminated;
          return finish(ready);
        };
        void act().then(resolve, () => void finish(false).then(resolve));
      });
      void post("Debugger.enable")
        .then(() => post("Debugger.pause"))
        .catch(() => {
          clearTimeout(timer);
          void finish(false).then(resolve);
        });
    });
  }
}
