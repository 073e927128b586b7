// Builds the lessons: notebooks/src/<name>.md -> notebooks/<name>.ipynb, executed through the
// qlora-lab kernel so the committed notebook carries its outputs (charts as PNG, tables as HTML).
// Usage: node --import tsx notebooks/build.ts [NAME...] [--no-execute] [--engine run|nbconvert] [--check]
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  NOTEBOOKS_DIR,
  diffLessonAndNotebook,
  findNotebookProblems,
  lessonToNotebook,
  listLessons,
  readLesson,
  serializeNotebook,
  type Notebook,
} from "./lesson.js";

const REPO = resolve(NOTEBOOKS_DIR, "..");
const CLI = join(REPO, "bin", "qlora-lab.js");
const PYTHON = process.env.QLORA_LAB_PYTHON ?? "/usr/bin/python3";

const USAGE = `Usage: node --import tsx notebooks/build.ts [NAME...] [options]

Writes notebooks/NAME.ipynb from notebooks/src/NAME.md (NAME may be its start, e.g. 04; all lessons when none is given) and
executes it through the qlora-lab kernel, so the saved notebook carries its outputs.

Options:
  --no-execute        write the notebooks without running them (outputs empty)
  --engine ENGINE     run (default: qlora-lab run) or nbconvert (Jupyter's own client)
  --check             only check that each committed notebook matches its source and is executed
  -h, --help          show this help`;

/** Executes `input` (inside notebooks/, so relative paths resolve) and returns the executed notebook. */
function execute(input: string, engine: string, scratch: string): Notebook {
  const output = join(scratch, "executed.ipynb");
  let result;
  if (engine === "run") {
    result = spawnSync(process.execPath, [CLI, "run", input, "--out", output], { cwd: NOTEBOOKS_DIR, stdio: "inherit" });
  } else if (engine === "nbconvert") {
    const prefix = join(scratch, "prefix");
    const install = spawnSync(process.execPath, [CLI, "install", "--prefix", prefix], { stdio: "inherit" });
    if (install.status !== 0) throw new Error(`qlora-lab install --prefix failed (exit ${install.status})`);
    result = spawnSync(
      PYTHON,
      ["-m", "nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.timeout=600", "--output-dir", scratch, "--output", "executed.ipynb", input],
      { cwd: NOTEBOOKS_DIR, stdio: "inherit", env: { ...process.env, JUPYTER_PATH: join(prefix, "share", "jupyter") } },
    );
  } else {
    throw new Error(`build.ts: expected --engine run or nbconvert, got "${engine}".`);
  }
  if (result.status !== 0) throw new Error(`executing ${input} with ${engine} failed (exit ${result.status ?? result.signal})`);
  return JSON.parse(readFileSync(output, "utf8")) as Notebook;
}

function main(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "no-execute": { type: "boolean", default: false },
      engine: { type: "string", default: "run" },
      check: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const all = listLessons();
  // A lesson by its name, its file, or the start of its name ("04").
  const lessonNamed = (arg: string): string => {
    const given = arg.replace(/^.*\//, "").replace(/\.(md|ipynb)$/, "");
    const matches = all.includes(given) ? [given] : all.filter((name) => name.startsWith(given));
    if (matches.length !== 1) throw new Error(`build.ts: expected one lesson of notebooks/src (${all.join(", ")}), got "${arg}" (${matches.length} match).`);
    return matches[0]!;
  };
  const names = positionals.length > 0 ? positionals.map(lessonNamed) : all;

  let failures = 0;
  for (const name of names) {
    const lesson = readLesson(name);
    const target = join(NOTEBOOKS_DIR, `${name}.ipynb`);
    if (values.check) {
      if (!existsSync(target)) {
        console.error(`${name}: missing ${name}.ipynb`);
        failures++;
        continue;
      }
      const nb = JSON.parse(readFileSync(target, "utf8")) as Notebook;
      const problems = [...diffLessonAndNotebook(lesson, nb), ...findNotebookProblems(nb)];
      for (const p of problems) console.error(`${name}: ${p}`);
      if (problems.length > 0) failures++;
      else console.log(`${name}: ok`);
      continue;
    }
    const fresh = lessonToNotebook(lesson);
    if (values["no-execute"]) {
      writeFileSync(target, serializeNotebook(fresh));
      console.log(`${name}: wrote ${name}.ipynb (not executed)`);
      continue;
    }
    // Execute a scratch copy beside the real one (same relative paths); replace the real one only on success.
    const input = join(NOTEBOOKS_DIR, `.build-${name}.ipynb`);
    const scratch = mkdtempSync(join(tmpdir(), "qlora-lab-build-"));
    try {
      writeFileSync(input, serializeNotebook(fresh));
      const started = performance.now();
      const executed = execute(input, values.engine!, scratch);
      const seconds = (performance.now() - started) / 1000;
      const problems = findNotebookProblems(executed);
      if (problems.length > 0) {
        for (const p of problems) console.error(`${name}: ${p}`);
        failures++;
        continue;
      }
      writeFileSync(target, serializeNotebook(executed));
      console.log(`${name}: executed in ${seconds.toFixed(1)} s, wrote ${name}.ipynb`);
    } finally {
      rmSync(input, { force: true });
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return failures === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
