// `qlora-lab run NOTEBOOK.ipynb [--out OUT.ipynb] [--html OUT.html]`: executes a notebook headlessly
// through the kernel over zeromq (no Python), saves the outputs, exits non-zero on a cell error.
import { readFile, writeFile } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { FileFormatError, InvalidArgumentError, expected } from "../lib/errors.js";
import { writeFileAtomic } from "../lib/io/atomic_write.js";
import { KernelClient, RequestFailedError, type RequestResult } from "../client/kernel_client.js";
import { cellSource, notebookToHtml, outputsFromMessages, type Notebook } from "../client/nbformat.js";
import { parseFlags } from "./flags.js";

const USAGE = `Usage: qlora-lab run NOTEBOOK.ipynb [--out OUT.ipynb] [--html OUT.html] [--timeout SECONDS]

Runs every code cell through the qlora-lab kernel and saves the outputs (to NOTEBOOK.ipynb
itself unless --out is given). Stops at the first failing cell and exits with status 1.
  --out FILE       write the executed notebook here
  --html FILE      also write a self-contained HTML page
  --timeout S      per-cell limit in seconds (default 1800)`;

const MAX_TIMEOUT_S = Math.floor((2 ** 31 - 1) / 1000);

/** Runs a notebook; returns 0 when every cell succeeded. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    "qlora-lab run",
    argv,
    {
      out: { type: "string", short: "o" },
      html: { type: "string" },
      // A timer longer than 2^31 - 1 ms fires at once, so that is the longest limit a cell can have.
      timeout: { type: "number", above: 0, max: MAX_TIMEOUT_S, default: 1800 },
      help: { type: "boolean", short: "h" },
    },
    { positionals: true },
  );
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const input = positionals[0];
  if (!input || positionals.length > 1) throw new InvalidArgumentError("qlora-lab run", expected("one NOTEBOOK.ipynb", positionals.length ? positionals.join(" ") : "none", USAGE));
  const timeoutMs = values.timeout * 1000;
  let notebook: Notebook;
  try {
    notebook = JSON.parse(await readFile(input, "utf8")) as Notebook;
  } catch (error) {
    throw new FileFormatError("qlora-lab run", expected("a readable .ipynb (JSON) notebook", input, (error as Error).message));
  }
  if (!Array.isArray(notebook.cells)) throw new FileFormatError("qlora-lab run", expected("a notebook with a cells array", input));

  // Like Jupyter, the kernel runs in the notebook's folder, so relative paths in cells resolve the same way.
  const client = await KernelClient.launch({ cwd: dirname(resolve(input)) });
  let failed = false;
  try {
    await client.waitReady();
    const code = notebook.cells.filter((c) => c.cell_type === "code");
    let index = 0;
    for (const cell of notebook.cells) {
      if (cell.cell_type !== "code") continue;
      index++;
      const source = cellSource(cell);
      const started = Date.now();
      const label = `[${index}/${code.length}]`;
      if (source.trim() === "") {
        cell.outputs = [];
        cell.execution_count = null;
        continue;
      }
      process.stderr.write(`${label} ${firstLine(source)} ...`);
      let result: RequestResult;
      try {
        result = await Promise.race([
          client.execute(source, { allowStdin: false }),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`cell ${index} ran longer than ${timeoutMs / 1000} s`)), timeoutMs).unref()),
        ]);
      } catch (error) {
        if (!(error instanceof RequestFailedError)) throw error;
        // The kernel is gone: keep what the cell printed before, and say why it stopped.
        cell.outputs = [...outputsFromMessages(error.iopub), { output_type: "error", ename: error.name, evalue: error.message, traceback: [`${error.name}: ${error.message}`] }];
        cell.execution_count = null;
        process.stderr.write(` ${error.name}\nqlora-lab run: cell ${index} failed: ${error.message}\n`);
        failed = true;
        break;
      }
      cell.outputs = outputsFromMessages(result.iopub);
      cell.execution_count = (result.reply.content as { execution_count?: number }).execution_count ?? null;
      const status = (result.reply.content as { status: string }).status;
      process.stderr.write(` ${status} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
      if (status !== "ok") {
        const { ename, evalue } = result.reply.content as { ename?: string; evalue?: string };
        process.stderr.write(`qlora-lab run: cell ${index} failed: ${ename}: ${evalue}\n`);
        failed = true;
        break;
      }
    }
  } finally {
    await client.shutdown();
  }
  const out = values.out ?? input;
  await writeFileAtomic(out, `${JSON.stringify(notebook, null, 1)}\n`);
  process.stderr.write(`qlora-lab run: wrote ${out}\n`);
  if (values.html) {
    await writeFile(values.html, notebookToHtml(notebook, basename(input, ".ipynb")));
    process.stderr.write(`qlora-lab run: wrote ${values.html}\n`);
  }
  return failed ? 1 : 0;
}

function firstLine(source: string): string {
  const line = source.trim().split("\n")[0]!;
  return line.length > 50 ? `${line.slice(0, 47)}...` : line;
}
