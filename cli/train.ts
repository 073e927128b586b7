// `qlora-lab train RECIPE`: fine-tune from a recipe file (YAML or JSON) with lib's trainFromRecipe,
// a progress line on stderr, and Ctrl-C stopping between steps with everything saved.
import { resolveBackend } from "../lib/backend.js";
import { InvalidArgumentError, expected } from "../lib/errors.js";
import { resolveRecipe, trainFromRecipe } from "../lib/recipe/index.js";
import { parseFlags } from "./flags.js";

const USAGE = `Usage: qlora-lab train RECIPE.(yaml|json) [options]

Options:
  --set KEY=VALUE       override one recipe key, e.g. --set optimizer.lr=1e-3 (repeatable; values read as YAML)
  --resume              continue from the output folder's latest checkpoint
  --overwrite           start afresh in an output folder that holds an earlier run (its checkpoints are removed)
  --init-adapter DIR    start from a PEFT adapter folder's weights (trained further)
  --check               check the recipe and exit (nothing is loaded)
  --quiet               no progress line
  -h, --help            show this help

The output folder gets adapter/ (PEFT), checkpoints/, log.jsonl (one line per step), report.html.
Ctrl-C stops after the current step and saves; run again with --resume to continue.`;

/** Runs `qlora-lab train`; returns the exit code (130 when Ctrl-C stopped the run). */
export async function train(argv: string[]): Promise<number> {
  const where = "qlora-lab train";
  const { values, positionals } = parseFlags(where, argv, {
    set: { type: "strings" },
    resume: { type: "boolean" },
    overwrite: { type: "boolean" },
    "init-adapter": { type: "string" },
    check: { type: "boolean" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, { positionals: true });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new InvalidArgumentError(where, expected("one recipe file (RECIPE.yaml or RECIPE.json)", positionals.length ? positionals.map((p) => JSON.stringify(p)).join(" ") : "none", "Run with --help for usage."));
  const recipePath = positionals[0]!;
  // The recipe is checked before the backend starts, so a wrong one is refused at once.
  const recipe = resolveRecipe(recipePath, { set: values.set });
  if (values.check) {
    console.log(`${recipePath}: the recipe is valid (${recipe.method}, ${recipe.training.steps} steps, output ${recipe.output})`);
    return 0;
  }
  await resolveBackend();
  const live = process.stderr.isTTY;
  // The first Ctrl-C stops the run after the current step (or before the first, while loading); a second one quits at once.
  const stop = new AbortController();
  const onSigint = () => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
    process.stderr.write(`${live ? "\n" : ""}stopping after this step and saving (Ctrl-C again quits now, unsaved)\n`);
  };
  process.on("SIGINT", onSigint);
  const { result, outputs } = await trainFromRecipe(recipePath, {
    set: values.set,
    resume: values.resume,
    overwrite: values.overwrite,
    initAdapter: values["init-adapter"],
    signal: stop.signal,
    onProgress: values.quiet ? undefined : (line) => process.stderr.write(live ? `\r\x1b[K${line}` : `${line}\n`),
  });
  process.off("SIGINT", onSigint);
  if (live && !values.quiet) process.stderr.write("\n");
  const summary = { steps_done: result.stepsDone, stopped: result.stopped, final_loss: result.steps[result.steps.length - 1]?.loss ?? null, eval_loss: result.evals[result.evals.length - 1]?.loss ?? null, adapter: outputs.adapter, log: outputs.log, report: outputs.report, checkpoint: result.checkpoint ?? null };
  console.log(JSON.stringify(summary));
  if (result.stopped) {
    console.error(`stopped at step ${result.stepsDone}/${recipe.training.steps}; everything is saved. Continue with: qlora-lab train ${recipePath} --resume`);
    return 130;
  }
  return 0;
}
