// The qlora-lab command line: one entry point, one module per subcommand, loaded on demand so
// `qlora-lab kernel` does not pay for what `qlora-lab plan` needs.
import { QloraLabError } from "../lib/errors.js";

/** A subcommand: parses its own arguments, returns the process exit code. */
export type Subcommand = (argv: string[]) => Promise<number>;

const SUBCOMMANDS: Record<string, { summary: string; load: () => Promise<Subcommand> }> = {
  install: { summary: "register the qlora-lab kernel with Jupyter", load: async () => (await import("./install.js")).install },
  kernel: { summary: "run the kernel (Jupyter starts this with --connection-file)", load: async () => (await import("./kernel.js")).kernel },
  run: { summary: "execute a notebook headlessly through the kernel", load: async () => (await import("./run.js")).run },
  quantize: { summary: "quantize a model's linear weights to NF4/FP4 (bitsandbytes format)", load: async () => (await import("./quantize.js")).quantize },
  generate: { summary: "generate text with a model (and optional adapter)", load: async () => (await import("./generate.js")).generate },
  plan: { summary: "estimate the memory a LoRA or QLoRA run needs", load: async () => (await import("./plan.js")).plan },
  train: { summary: "fine-tune from a recipe file (YAML or JSON) and save a PEFT adapter", load: async () => (await import("./train.js")).train },
  compare: { summary: "fine-tune LoRA and QLoRA side by side and report", load: async () => (await import("./compare.js")).compare },
  ladder: { summary: "measure LoRA and QLoRA memory and speed at growing model sizes", load: async () => (await import("./ladder.js")).ladder },
};

/** Usage text listing every subcommand. */
export function usage(): string {
  const width = Math.max(...Object.keys(SUBCOMMANDS).map((k) => k.length));
  const lines = Object.entries(SUBCOMMANDS).map(([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`);
  return `Usage: qlora-lab <command> [options]\n\nCommands:\n${lines.join("\n")}\n\nRun "qlora-lab <command> --help" for a command's options.`;
}

/** Runs the CLI; refusals and file system errors become a one-line message and exit code 1. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-v") {
    const { readFileSync } = await import("node:fs");
    console.log(JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version);
    return 0;
  }
  const command = SUBCOMMANDS[name];
  if (!command) {
    console.error(`qlora-lab: expected a command (${Object.keys(SUBCOMMANDS).join(", ")}), got "${name}".\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await command.load())(rest);
  } catch (error) {
    if (error instanceof QloraLabError) {
      console.error(error.message);
      return 1;
    }
    // A file system refusal that no check caught first (EACCES, ENOSPC, EISDIR, ...) is the
    // user's to fix, not a bug: one line, as Node words it. Anything else keeps its stack trace.
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (typeof code === "string" && /^E[A-Z]+$/.test(code)) {
      console.error(`qlora-lab ${name}: ${(error as Error).message}`);
      return 1;
    }
    throw error;
  }
}
