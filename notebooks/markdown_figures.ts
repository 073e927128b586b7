// The lessons' markdown rule: a figure measured on the learner's machine is printed by a code cell,
// never typed into the prose. In markdown a number may appear only in inline code, a code fence or
// math; as a heading's section number, a list marker or a lesson reference ("lesson 05"); as part of
// a name (NF4, bf16, 7B, 4-bit, Llama-2-7B); or in a sentence that cites its source (a link to a
// published page, or "(Dettmers et al., 2023)"). Spelled-out quantities ("about three minutes",
// "a percent") are figures too. findHandTypedFigures reports every other number.
import type { Lesson } from "./lesson.js";

/** One number in a lesson's markdown that the rule does not allow. */
export interface HandTypedFigure {
  /** The lesson's name, e.g. "02-nf4-from-scratch". */
  lesson: string;
  /** The cell's number in the notebook, counting from 1 (as findNotebookProblems counts). */
  cell: number;
  /** The figure as written, e.g. "0.93" or "three minutes". */
  figure: string;
  /** The words around it. */
  context: string;
  /** One line saying where it is and what to do. */
  message: string;
}

/** What to do about a hand-typed figure. */
export const HAND_TYPED_FIGURE_ADVICE = "print it from a code cell, or cite its source in the same sentence";

/** Every number in the lesson's markdown cells that the markdown rule does not allow, in reading order. */
export function findHandTypedFigures(lesson: Lesson): HandTypedFigure[] {
  const found: HandTypedFigure[] = [];
  lesson.cells.forEach((cell, index) => {
    if (cell.cellType !== "markdown") return;
    for (const { figure, context } of findFiguresInMarkdown(cell.source)) {
      const message = `${lesson.name}: cell ${index + 1}: hand-typed figure "${figure}" in "${context}": ${HAND_TYPED_FIGURE_ADVICE}`;
      found.push({ lesson: lesson.name, cell: index + 1, figure, context, message });
    }
  });
  return found;
}

/** The figures (and their surrounding words) that one markdown text states against the rule. */
export function findFiguresInMarkdown(markdown: string): { figure: string; context: string }[] {
  const found: { figure: string; context: string }[] = [];
  for (const sentence of sentencesOf(proseOf(markdown), markdown)) {
    if (citesItsSource(sentence)) continue;
    const words = sentence.replace(LESSON_REFERENCE, (ref) => " ".repeat(ref.length));
    const hits: { at: number; figure: string }[] = [];
    for (const match of words.matchAll(TOKEN)) if (isFigure(match[0])) hits.push({ at: match.index, figure: match[0] });
    for (const pattern of SPELLED_QUANTITIES) for (const match of words.matchAll(pattern)) hits.push({ at: match.index, figure: match[0].replace(/\s+/g, " ") });
    hits.sort((a, b) => a.at - b.at);
    for (const hit of hits) found.push({ figure: hit.figure, context: surroundingWords(sentence, hit.at, hit.figure.length) });
  }
  return found;
}

// ---- Removing what may hold numbers: code, math, link targets, HTML, heading numbers, list markers.

/** The markdown's prose, each allowed place of a number blanked out; line structure kept. */
function proseOf(markdown: string): string {
  const blank = (text: string) => text.replace(/[^\n]/g, " ");
  let text = markdown.replace(/\r\n/g, "\n");
  // Fenced blocks (``` or ~~~), whole.
  text = text.replace(/^([ \t]*)(`{3,}|~{3,})[^\n]*\n[\s\S]*?(?:^\1?\2[ \t]*$|(?![\s\S]))/gm, blank);
  text = text.replace(/<!--[\s\S]*?-->/g, blank);
  // Inline code (any run of backticks, closed by the same run).
  text = text.replace(/(`+)(?!`)[\s\S]*?[^`]\1(?!`)/g, blank);
  // Math: escaped dollars are text; $$...$$ may span lines; $...$ stays within a paragraph.
  text = text.replace(/\\\$/g, "  ");
  text = text.replace(/\$\$[\s\S]*?\$\$/g, blank);
  text = text.replace(/\$(?:[^$\n]|\n(?![ \t]*\n))+?\$/g, blank);
  // Link and image targets (the link text stays: it is prose), then HTML tags.
  text = text.replace(/\]\(\s*([^)\s]*)(?:\s+"[^"]*")?\s*\)/g, (_, url: string) => (/^https?:/i.test(url) ? `]${CITED_LINK}` : "]"));
  text = text.replace(/<[A-Za-z/][^>\n]*>/g, blank);
  // A heading's section number ("## 3 · ...", "# 02 · ..."), a list marker ("1. ", "2) ").
  text = text.replace(/^(#{1,6}[ \t]+)([0-9]+(?:\.[0-9]+)*\.?)(?=[ \t]|$)/gm, (_, hashes: string, number: string) => hashes + blank(number));
  text = text.replace(/^([ \t>]*)([0-9]+[.)])(?=[ \t])/gm, (_, indent: string, marker: string) => indent + blank(marker));
  return text;
}

/** Sentences of the prose: split at . ! ? before a capital or an opening mark, and at blank lines; headings, list items and table rows start their own. */
function sentencesOf(prose: string, markdown: string): string[] {
  const originalLines = markdown.replace(/\r\n/g, "\n").split("\n");
  const blocks: string[] = [];
  let current: string[] = [];
  const flush = () => {
    if (current.length > 0) blocks.push(current.join("\n"));
    current = [];
  };
  prose.split("\n").forEach((line, i) => {
    const original = originalLines[i] ?? "";
    if (line.trim() === "") return flush();
    if (/^[ \t>]*(?:#|\||[-*+][ \t]|[0-9]+[.)][ \t])/.test(original)) flush();
    current.push(line);
    if (/^[ \t]*(?:#|\|)/.test(original)) flush(); // a heading or a table row is one sentence
  });
  flush();
  return blocks.flatMap((block) => block.split(/(?<=[.!?][)"'’”*_]*)\s+(?=[A-Z("'“*_\[])/));
}

/** Stands where a link to a published page (http or https) was, so the sentence counts as cited. */
const CITED_LINK = "\u0000";

/** True when the sentence names its source: a link to a published page, or "(Author et al., 2023)". */
function citesItsSource(sentence: string): boolean {
  return sentence.includes(CITED_LINK) || AUTHOR_YEAR.test(sentence);
}

/** "(Dettmers et al., 2023)", "(Hu et al. 2021)", "(Acklam, 2003)", "(Kingma and Ba, 2015)", "(Dettmers et al., 2023, Table 2)". */
const AUTHOR_YEAR = /\((?:[^()]*;\s*)?\p{Lu}[\p{L}'’-]+(?:\s+(?:et al\.?|and\s+\p{Lu}[\p{L}'’-]+|&\s+\p{Lu}[\p{L}'’-]+))?,?\s+(?:19|20)[0-9]{2}[a-z]?(?:[,;][^()]*)?\)/u;

/** "lesson 05", "Lesson 3's", "lessons 01 and 04-06". */
const LESSON_REFERENCE = /\blessons?[ \t\n]+[0-9]+(?:[ \t]*[-–][ \t]*[0-9]+)?(?:(?:[ \t\n]*,[ \t\n]*|[ \t\n]+(?:and|or|to)[ \t\n]+)[0-9]+(?:[ \t]*[-–][ \t]*[0-9]+)?)*/gi;

// ---- What counts as a figure.

/** A word with digits: letters and digits, joined by dots (decimals) or hyphens (names like Llama-2-7B). */
const TOKEN = /[\p{L}\p{N}]+(?:[.\-‑][\p{L}\p{N}]+)*/gu;

/** Units that make a number joined to them a measurement, not a name ("3GB", "5s", "2.5x"). 7B and 260K stay names. */
const JOINED_UNIT = /^[0-9]+(?:\.[0-9]+)?(?:[KMGT]i?B|kB|bytes?|bits?|ms|us|µs|ns|s|sec|min|h|hrs?|x|steps?|tok)$/i;

/** True for a word that states a number: digits alone, a decimal, scientific notation, a number with a unit. */
function isFigure(word: string): boolean {
  if (!/[0-9]/.test(word)) return false;
  if (/^[0-9]+(?:\.[0-9]+)?e[-+]?[0-9]+$/i.test(word)) return true; // 1e-9
  if (/^[0-9]+(?:\.[0-9]+)*$/.test(word)) return true; // 64, 0.93, 4.127
  if (JOINED_UNIT.test(word)) return true;
  // Otherwise digits joined to letters (NF4, bf16, 7B) or, inside a word with letters, by a hyphen (4-bit, Llama-2-7B).
  return !/\p{L}/u.test(word);
}

const NUMBER_WORD =
  "(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundreds?|thousands?|millions?|billions?|dozens?)";
const UNIT_WORD =
  "(?:percent|per[ \\t]+cent|percentage[ \\t]+points?|times|steps?|epochs?|minutes?|seconds?|hours?|milliseconds?|microseconds?|bytes?|kilobytes?|megabytes?|gigabytes?|[KMGT]i?B|tokens?)";
const TIME_OR_SHARE = "(?:percent|per[ \\t]+cent|percentage[ \\t]+points?|minutes?|hours?|seconds|milliseconds?|microseconds?)";

/** Quantities spelled in words: "three minutes", "twenty-five percent", "a few seconds", "about a percent". */
const SPELLED_QUANTITIES = [
  new RegExp(`\\b${NUMBER_WORD}(?:(?:[ \\t]+(?:and[ \\t]+)?|-)(?:a[ \\t]+half|${NUMBER_WORD}))*[ \\t\\n]+${UNIT_WORD}\\b`, "gi"),
  new RegExp(`\\b(?:an?|a[ \\t]+few|few|several|half[ \\t]+an?)[ \\t\\n]+${TIME_OR_SHARE}\\b`, "gi"),
];

/** About six words either side of the figure, on one line. */
function surroundingWords(sentence: string, at: number, length: number): string {
  const before = /(?:\S+\s+){0,6}\S*$/.exec(sentence.slice(0, at))![0];
  const after = /^\S*(?:\s+\S+){0,6}/.exec(sentence.slice(at + length))![0];
  return (before + sentence.slice(at, at + length) + after).replace(/\s+/g, " ").trim();
}
