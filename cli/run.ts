// `qlora-lab run NOTEBOOK.ipynb [--out OUT.ipynb | --inplace] [--html OUT.html]`: executes a notebook
// headlessly through the kernel over zeromq (no Python), saves the outputs, exits non-zero on a cell
// error. Like `jupyter nbconvert --to notebook --execute`, it writes NOTEBOOK.nbconvert.ipynb and
// leaves the input alone unless told otherwise.
import { readFile } from "node:fs/promises";
import { basename, dirname, join, parse, resolve } from "node:path";
import { FileFormatError, InvalidArgumentError, expected } from "../lib/errors.js";
import { writeFileAtomic } from "../lib/io/atomic_write.js";
import { KernelClient, RequestFailedError, RequestTimeoutError, type RequestResult } from "../client/kernel_client.js";
import { cellSource, notebookToHtml, outputsFromMessages, requireNotebook, serializeNotebook } from "../client/nbformat.js";
import { parseFlags } from "./flags.js";
import { requireWritableFilePath } from "./output_path.js";

const USAGE = `Usage: qlora-lab run NOTEBOOK.ipynb [--out OUT.ipynb | --inplace] [--html OUT.html] [--timeout SECONDS]

Runs every code cell through the qlora-lab kernel and saves the executed notebook beside the input
as NOTEBOOK.nbconvert.ipynb (as jupyter nbconvert --execute does); the input is left as it was.
Stops at the first failing cell, saves what ran (cells after it have no outputs) and exits with
status 1.
  --out FILE       write the executed notebook here instead
  --inplace        write it over NOTEBOOK.ipynb
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
      inplace: { type: "boolean" },
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
  const where = "qlora-lab run";
  let text: string;
  try {
    text = await readFile(input, "utf8");
  } catch (error) {
    throw new FileFormatError(where, expected("a readable .ipynb (JSON) notebook", input, (error as Error).message));
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new FileFormatError(where, expected(`a .ipynb (JSON) notebook at ${input}`, (error as Error).message));
  }
  const notebook = requireNotebook(parsed, input);
  if (values.out !== undefined && values.inplace) throw new InvalidArgumentError(where, expected("either --out FILE or --inplace", "both"));
  const out = values.out ?? (values.inplace ? input : defaultOutput(input));
  // Refuse unwritable outputs now, not after every cell has run.
  requireWritableFilePath(where, values.out ? "--out" : values.inplace ? "the notebook (--inplace)" : `the output ${out}`, out);
  // Every code cell starts empty: a cell that does not run (after a failing one) must not keep the
  // outputs and execution count of an older run beside this run's.
  for (const cell of notebook.cells) {
    if (cell.cell_type !== "code") continue;
    cell.outputs = [];
    cell.execution_count = null;
  }
  if (values.html) requireWritableFilePath(where, "--html", values.html);

  // Like Jupyter, the kernel runs in the notebook's folder, so relative paths in cells resolve the same way.
  const client = await KernelClient.launch({ cwd: dirname(resolve(input)) });
  let failure: string | undefined;
  let timedOut = false;
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
      if (source.trim() === "") continue;
      process.stderr.write(`${label} ${firstLine(source)} ...`);
      let result: RequestResult;
      try {
        result = await client.execute(source, { allowStdin: false, timeoutMs });
      } catch (error) {
        if (!(error instanceof RequestFailedError)) throw error;
        // The kernel is gone or the cell ran too long: keep what the cell printed, and say why it stopped.
        timedOut = error instanceof RequestTimeoutError;
        const reason = timedOut ? `cell ${index} ran longer than --timeout ${values.timeout} s` : error.message;
        cell.outputs = [...outputsFromMessages(error.iopub), { output_type: "error", ename: error.name, evalue: reason, traceback: [`${error.name}: ${reason}`] }];
        cell.execution_count = null;
        process.stderr.write(` ${error.name}\n`);
        failure = `cell ${index} failed: ${reason}`;
        break;
      }
      cell.outputs = outputsFromMessages(result.iopub);
      cell.execution_count = (result.reply.content as { execution_count?: number }).execution_count ?? null;
      const status = (result.reply.content as { status: string }).status;
      process.stderr.write(` ${status} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
      if (status !== "ok") {
        const { ename, evalue } = result.reply.content as { ename?: string; evalue?: string };
        failure = `cell ${index} failed: ${ename}: ${evalue}`;
        break;
      }
    }
  } finally {
    // A cell past its limit is still running; the kernel gets a short grace before it is killed.
    await client.shutdown(timedOut ? 2_000 : 10_000);
  }
  writeFileAtomic(out, serializeNotebook(notebook));
  process.stderr.write(`qlora-lab run: wrote ${out}\n`);
  if (values.html) {
    writeFileAtomic(values.html, notebookToHtml(notebook, basename(input, ".ipynb")));
    process.stderr.write(`qlora-lab run: wrote ${values.html}\n`);
  }
  if (failure) process.stderr.write(`qlora-lab run: ${failure}\n`);
  return failure ? 1 : 0;
}

/** NOTEBOOK.nbconvert.ipynb beside the input, the name jupyter nbconvert --to notebook gives. */
function defaultOutput(input: string): string {
  const { dir, name } = parse(input);
  return join(dir, `${name}.nbconvert.ipynb`);
}

function firstLine(source: string): string {
  const line = source.trim().split("\n")[0]!;
  return line.length > 50 ? `${line.slice(0, 47)}...` : line;
}
