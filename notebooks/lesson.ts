// Lesson sources -> Jupyter notebooks (nbformat 4.5). A lesson is a Markdown file in notebooks/src/:
// each fenced ```ts block becomes a code cell, the prose between blocks becomes markdown cells.
// Reference: nbformat 4.5 JSON schema (cell ids), Jupyter's own writer (indent 1, sorted keys).
import { readFileSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { joinLines, type Notebook } from "../client/nbformat.js";

export { serializeNotebook, type Notebook, type NotebookCell, type NotebookOutput } from "../client/nbformat.js";
// The markdown rule every lesson follows (numbers measured here are printed by code, not typed).
export { findHandTypedFigures, findFiguresInMarkdown, HAND_TYPED_FIGURE_ADVICE, type HandTypedFigure } from "./markdown_figures.js";

/** The folder holding the lessons' .ipynb files. */
export const NOTEBOOKS_DIR = fileURLToPath(new URL(".", import.meta.url));

/** The folder holding the lessons' Markdown sources. */
export const SOURCES_DIR = join(NOTEBOOKS_DIR, "src");

/** The kernelspec the notebooks ask for (written by `qlora-lab install`). */
export const KERNELSPEC = { name: "qlora-lab", display_name: "TypeScript (QLoRA Lab)", language: "typescript" } as const;

/** A cell as the source format describes it, before execution. */
export interface LessonCell {
  cellType: "markdown" | "code";
  source: string;
}

/** One lesson: its name (file stem, e.g. "01-lora-vs-qlora") and its cells. */
export interface Lesson {
  name: string;
  cells: LessonCell[];
}

/** A line that splits two markdown cells without a code cell between them. */
const SPLIT_MARKER = "<!-- cell -->";

/** Splits a lesson's Markdown into cells: ```ts fences are code, the rest is prose. */
export function parseLesson(name: string, text: string): Lesson {
  const cells: LessonCell[] = [];
  let prose: string[] = [];
  let code: string[] | null = null;
  const flushProse = () => {
    const source = trimBlankLines(prose).join("\n");
    if (source.length > 0) cells.push({ cellType: "markdown", source });
    prose = [];
  };
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  lines.forEach((line, index) => {
    if (code !== null) {
      if (line.trimEnd() === "```") {
        const source = trimBlankLines(code).join("\n");
        if (source.length === 0) throw new Error(`${name}.md:${index + 1}: expected code in the ts block, got an empty block.`);
        cells.push({ cellType: "code", source });
        code = null;
      } else {
        code.push(line);
      }
    } else if (/^```(ts|typescript)\s*$/.test(line)) {
      flushProse();
      code = [];
    } else if (line.trim() === SPLIT_MARKER) {
      flushProse();
    } else {
      prose.push(line);
    }
  });
  if (code !== null) throw new Error(`${name}.md: expected a closing \`\`\` for the last ts block, got the end of the file.`);
  flushProse();
  return { name, cells };
}

function trimBlankLines(lines: string[]): string[] {
  let start = 0;
  let end = lines.length;
  while (start < end && lines[start]!.trim() === "") start++;
  while (end > start && lines[end - 1]!.trim() === "") end--;
  return lines.slice(start, end);
}

/** Every lesson source in notebooks/src, sorted by name. */
export function listLessons(dir = SOURCES_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".md"))
    .map((f) => basename(f, ".md"))
    .sort();
}

/** Reads and parses one lesson source by name. */
export function readLesson(name: string, dir = SOURCES_DIR): Lesson {
  return parseLesson(name, readFileSync(join(dir, `${name}.md`), "utf8"));
}

/** Builds the unexecuted notebook for a lesson (stable cell ids, so rebuilds diff cleanly). */
export function lessonToNotebook(lesson: Lesson): Notebook {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { ...KERNELSPEC },
      language_info: { name: "typescript", file_extension: ".ts", mimetype: "text/typescript" },
    },
    cells: lesson.cells.map((cell, index) => {
      const id = `${cell.cellType === "code" ? "code" : "md"}-${String(index + 1).padStart(2, "0")}`;
      return cell.cellType === "code"
        ? { id, cell_type: "code", metadata: {}, source: cell.source, outputs: [], execution_count: null }
        : { id, cell_type: "markdown", metadata: {}, source: cell.source };
    }),
  };
}

/** Absolute paths that must not appear in a committed notebook (they name one machine). */
export const MACHINE_PATH = /(?:\/work\/|\/tmp\/|\/home\/|\/root\/|\/Users\/|\/private\/var\/|\/var\/folders\/|[A-Za-z]:\\\\Users)/;

/** Which checks {@link findNotebookProblems} runs; all on by default (the bar for a committed notebook). */
export interface ProblemChecks {
  /** Flag absolute paths that name one machine. */
  machinePaths?: boolean;
  /** Flag output written to stderr (warnings a reader should not see). */
  stderr?: boolean;
}

/** Problems that make an executed notebook unfit to commit: errors, unexecuted cells, stderr, machine paths. */
export function findNotebookProblems(nb: Notebook, checks: ProblemChecks = {}): string[] {
  const { machinePaths = true, stderr = true } = checks;
  const problems: string[] = [];
  nb.cells.forEach((cell, index) => {
    const where = `cell ${index + 1}${cell.id ? ` (${cell.id})` : ""}`;
    const sourceMatch = MACHINE_PATH.exec(joinLines(cell.source));
    if (sourceMatch && machinePaths) problems.push(`${where}: source names a machine path (${sourceMatch[0]}...)`);
    if (cell.cell_type !== "code") return;
    if (cell.execution_count === null || cell.execution_count === undefined) problems.push(`${where}: not executed`);
    for (const output of cell.outputs ?? []) {
      if (output.output_type === "error") problems.push(`${where}: error output ${output.ename}: ${output.evalue}`);
      if (stderr && output.output_type === "stream" && output.name === "stderr") problems.push(`${where}: stderr output: ${joinLines(output.text).slice(0, 200)}`);
      const texts = { text: "text" in output ? output.text : "", ...("data" in output ? output.data : {}) };
      for (const [mime, value] of Object.entries(texts)) {
        if (!machinePaths || mime.startsWith("image/")) continue;
        const text = typeof value === "string" || Array.isArray(value) ? joinLines(value as string | string[]) : JSON.stringify(value);
        const match = MACHINE_PATH.exec(text);
        if (match) problems.push(`${where}: ${mime} output names a machine path (${text.slice(Math.max(0, match.index - 40), match.index + 40)})`);
      }
    }
  });
  return problems;
}

/** Differences between a lesson's source and the cells of its notebook (empty when they match). */
export function diffLessonAndNotebook(lesson: Lesson, nb: Notebook): string[] {
  const problems: string[] = [];
  const expectedCells = lesson.cells;
  if (expectedCells.length !== nb.cells.length) {
    problems.push(`expected ${expectedCells.length} cells from src/${lesson.name}.md, got ${nb.cells.length} in ${lesson.name}.ipynb`);
  }
  const n = Math.min(expectedCells.length, nb.cells.length);
  for (let i = 0; i < n; i++) {
    const want = expectedCells[i]!;
    const got = nb.cells[i]!;
    if (want.cellType !== got.cell_type || want.source !== joinLines(got.source)) {
      problems.push(`cell ${i + 1}: ${lesson.name}.ipynb differs from src/${lesson.name}.md (rebuild with notebooks/build.ts)`);
    }
  }
  const kernelspec = nb.metadata.kernelspec as { name?: string } | undefined;
  if (kernelspec?.name !== KERNELSPEC.name) problems.push(`expected kernelspec "${KERNELSPEC.name}", got ${JSON.stringify(kernelspec?.name)}`);
  return problems;
}
