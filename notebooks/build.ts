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
  SOURCES_DIR,
  diffLessonAndNotebook,
  findHandTypedFigures,
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
  --sources DIR       read the lessons' Markdown from DIR (default notebooks/src)

Every lesson must also pass the markdown rule (notebooks/markdown_figures.ts): a figure measured on the
learner's machine is printed by a code cell, not typed into the prose; a lesson that breaks it is refused.
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
      sources: { type: "string", default: SOURCES_DIR },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const all = listLessons(values.sources);
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
    const lesson = readLesson(name, values.sources);
    const target = join(NOTEBOOKS_DIR, `${name}.ipynb`);
    // The markdown rule: a lesson whose prose types in a measured figure is neither built nor passed.
    const figures = findHandTypedFigures(lesson).map((f) => f.message);
    if (figures.length > 0) figures.push(`${name}: refused, ${figures.length} hand-typed figure${figures.length === 1 ? "" : "s"} in its markdown (the markdown rule: notebooks/markdown_figures.ts)`);
    if (values.check) {
      if (!existsSync(target)) {
        for (const p of figures) console.error(p);
        console.error(`${name}: missing ${name}.ipynb`);
        failures++;
        continue;
      }
      const nb = JSON.parse(readFileSync(target, "utf8")) as Notebook;
      const problems = [...diffLessonAndNotebook(lesson, nb), ...findNotebookProblems(nb)].map((p) => `${name}: ${p}`);
      for (const p of [...figures, ...problems]) console.error(p);
      if (figures.length + problems.length > 0) failures++;
      else console.log(`${name}: ok`);
      continue;
    }
    if (figures.length > 0) {
      for (const p of figures) console.error(p);
      failures++;
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
