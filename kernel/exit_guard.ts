// A cell that calls process.exit() would end the kernel and every variable of the notebook; worse, the
// zeromq add-on aborts the process (SIGABRT) when it exits while its socket thread runs, so the front
// end got no reply and no clean exit. Inside a cell (and code it calls), process.exit throws a clear
// error instead; the kernel's own shutdown still exits.
import type { OutputRouter } from "./cell_context.js";

/** Thrown by process.exit() called from a cell. */
export class ExitRefusedError extends Error {
  override name = "ExitRefusedError";
}

/** Makes process.exit refuse while a cell runs (installed once, by the kernel's composition root). */
export function refuseExitInCells(router: OutputRouter): void {
  const original = process.exit;
  process.exit = ((code?: number | string | null) => {
    if (router.insideCell()) {
      throw new ExitRefusedError(`process.exit(${code ?? ""}) would stop the kernel and lose every variable of this notebook; use the front end's Restart or Shut Down instead (in a script outside the kernel, process.exit works as usual)`);
    }
    return original.call(process, code);
  }) as typeof process.exit;
}
