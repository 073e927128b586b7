// Which cell is speaking: every cell runs inside an AsyncLocalStorage context, so text printed and
// values displayed by its leftover async work (timers, promises) reach the cell that started it.
// stdout/stderr writes are buffered per cell and sent as `stream` messages in order with other output.
import { AsyncLocalStorage } from "node:async_hooks";
import { setImmediate as realSetImmediate } from "node:timers";
import { promisify } from "node:util";

/** Sends one IOPub message as a child of the cell's request (a no-op for silent cells). */
export type Publish = (msgType: string, content: Record<string, unknown>) => void;

/** Asks the front end for a line of input (stdin channel). */
export type RequestInput = (prompt: string, password: boolean) => Promise<string>;

/** Streams are flushed after this many buffered characters even within one synchronous run. */
const FLUSH_CHARS = 1 << 20;

/** One cell's output channel and interrupt state. */
export class CellContext {
  private readonly buffers: { name: "stdout" | "stderr"; text: string }[] = [];
  private scheduled = false;
  /** Aborted when the cell is interrupted; its later timers are dropped. */
  readonly abort = new AbortController();
  /** Values the cell sent to the pager with `page()`. */
  readonly pages: unknown[] = [];

  constructor(
    readonly executionCount: number,
    private readonly publishRaw: Publish,
    readonly requestInput: RequestInput | undefined,
  ) {}

  /** Buffers stream text; consecutive writes to one stream become one message. */
  write(name: "stdout" | "stderr", text: string): void {
    const last = this.buffers[this.buffers.length - 1];
    if (last && last.name === name) last.text += text;
    else this.buffers.push({ name, text });
    if (this.buffers.reduce((n, b) => n + b.text.length, 0) >= FLUSH_CHARS) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      realSetImmediate(() => this.flush());
    }
  }

  /** Sends buffered stream text now. */
  flush(): void {
    this.scheduled = false;
    for (const { name, text } of this.buffers.splice(0)) if (text) this.publishRaw("stream", { name, text });
  }

  /** Publishes a message after any stream text written before it. */
  publish(msgType: string, content: Record<string, unknown>): void {
    this.flush();
    this.publishRaw(msgType, content);
  }
}

/** The part of Node's internal async_wrap binding a forced stop needs. */
interface AsyncHooksState {
  async_hook_fields: Uint32Array;
  constants: { kCheck: number };
  clearAsyncIdStack(): void;
}

/** Node's async hooks state (deprecated process.binding, read without its warning), or undefined. */
function asyncHooksState(): AsyncHooksState | undefined {
  const quiet = process.noDeprecation;
  process.noDeprecation = true;
  try {
    const state = (process as unknown as { binding(name: string): Partial<AsyncHooksState> }).binding("async_wrap");
    return state.async_hook_fields && state.constants && typeof state.clearAsyncIdStack === "function" ? (state as AsyncHooksState) : undefined;
  } catch {
    return undefined;
  } finally {
    process.noDeprecation = quiet;
  }
}

/** The store of the cell context and the process-wide hooks that consult it. */
export class OutputRouter {
  readonly storage = new AsyncLocalStorage<CellContext>();
  /** The cell that ran last: output from code outside any cell context goes there. */
  private latest: CellContext | undefined;
  /** Node's async hooks check flag while a forced stop has it off. */
  private suspendedCheck: number | undefined;
  private installed: (() => void) | undefined;

  /** The context of the code running now, or the latest cell. */
  current(): CellContext | undefined {
    return this.storage.getStore() ?? this.latest;
  }

  /** True inside a cell's own execution or the async work it started (not merely after one ran). */
  insideCell(): boolean {
    return this.storage.getStore() !== undefined;
  }

  /** Runs `fn` as the given cell. */
  run<T>(context: CellContext, fn: () => T): T {
    this.latest = context;
    return this.storage.run(context, fn);
  }

  /**
   * Called on the main thread while it is paused in a cell stuck in synchronous code, before that code
   * is terminated (see interrupt_watchdog.ts). A terminated callback never pops its entry off Node's
   * async id stack, and Node aborts the process when it finds the stack unbalanced: with async hooks
   * on (this router's AsyncLocalStorage) or with its consistency check on. Both go off until
   * resumeTracking; output goes to the latest cell meanwhile. False (nothing changed) where this Node
   * no longer exposes its async hooks state: the cell must then not be terminated.
   */
  suspendTracking(): boolean {
    const hooks = asyncHooksState();
    if (!hooks) return false;
    this.storage.disable();
    this.suspendedCheck ??= hooks.async_hook_fields[hooks.constants.kCheck]!;
    hooks.async_hook_fields[hooks.constants.kCheck] = 0;
    return true;
  }

  /** After a terminated cell: empties Node's async id stack and turns its check back on; the next run() turns tracking on. */
  resumeTracking(): void {
    const hooks = asyncHooksState();
    if (!hooks || this.suspendedCheck === undefined) return;
    hooks.clearAsyncIdStack();
    hooks.async_hook_fields[hooks.constants.kCheck] = this.suspendedCheck;
    this.suspendedCheck = undefined;
  }

  /**
   * Routes process.stdout/stderr writes to cells and makes timers created by an interrupted cell
   * inert, so an interrupted training loop stops at its next step. Returns an uninstaller.
   */
  install(): () => void {
    if (this.installed) return this.installed;
    const restore: (() => void)[] = [];
    for (const name of ["stdout", "stderr"] as const) {
      const stream = process[name];
      const original = stream.write;
      stream.write = ((chunk: string | Uint8Array, encoding?: BufferEncoding | ((e?: Error) => void), callback?: (e?: Error) => void) => {
        const context = this.current();
        if (!context) return original.call(stream, chunk, encoding as BufferEncoding, callback as (err?: Error | null) => void);
        context.write(name, typeof chunk === "string" ? chunk : Buffer.from(chunk).toString(typeof encoding === "string" ? encoding : "utf8"));
        const done = typeof encoding === "function" ? encoding : callback;
        if (done) realSetImmediate(done);
        return true;
      }) as typeof stream.write;
      restore.push(() => {
        stream.write = original;
      });
    }
    const g = globalThis as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const name of ["setTimeout", "setInterval", "setImmediate"]) {
      const original = g[name]!;
      const wrapped = (callback: unknown, ...rest: unknown[]) => {
        const context = this.storage.getStore();
        if (!context || typeof callback !== "function") return original(callback, ...rest);
        const signal = context.abort.signal;
        return original((...args: unknown[]) => {
          if (!signal.aborted) (callback as (...a: unknown[]) => unknown)(...args);
        }, ...rest);
      };
      Object.assign(wrapped, original, { [promisify.custom]: (original as unknown as Record<symbol, unknown>)[promisify.custom] });
      g[name] = wrapped;
      restore.push(() => {
        g[name] = original;
      });
    }
    this.installed = () => {
      for (const undo of restore.splice(0)) undo();
      this.installed = undefined;
    };
    return this.installed;
  }
}
