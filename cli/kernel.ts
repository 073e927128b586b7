// `qlora-lab kernel --connection-file F`: the process Jupyter starts for a notebook.
import { InvalidArgumentError, expected } from "../lib/errors.js";
import { parseFlags } from "./flags.js";

const USAGE = `Usage: qlora-lab kernel --connection-file FILE

Runs the qlora-lab Jupyter kernel. Jupyter starts it with the connection file it wrote
(see "qlora-lab install"); you rarely run it by hand.`;

/** Runs the kernel until a front end asks it to shut down. */
export async function kernel(argv: string[]): Promise<number> {
  const { values } = parseFlags("qlora-lab kernel", argv, { "connection-file": { type: "string", short: "f" }, help: { type: "boolean", short: "h" } });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const file = values["connection-file"];
  if (!file) throw new InvalidArgumentError("qlora-lab kernel", expected("--connection-file FILE", "no file", USAGE));
  const { startKernel } = await import("../kernel/main.js");
  const { done } = await startKernel(file);
  await done;
  return 0;
}
