// The lessons' markdown rule (notebooks/markdown_figures.ts): measured figures are printed by code,
// never typed into the prose. Checked on small strings (each forbidden and each allowed form), on a
// real lesson with a planted figure, on every lesson as committed, and through notebooks/build.ts.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HAND_TYPED_FIGURE_ADVICE, findFiguresInMarkdown, findHandTypedFigures, parseLesson, readLesson } from "../../notebooks/lesson.js";
import { LESSONS, REPO } from "./helpers.js";

const figuresIn = (markdown: string) => findFiguresInMarkdown(markdown).map((f) => f.figure);

describe("hand-typed figures are found", () => {
  const planted: [string, string[]][] = [
    ["The adapter's update keeps its direction (cosine about 0.93).", ["0.93"]],
    ["Both runs take about three minutes on a laptop.", ["three minutes"]],
    ["We train for 300 steps.", ["300"]],
    ["Requantizing keeps 98 % of the update.", ["98"]],
    ["QLoRA is twenty-five percent slower here.", ["twenty-five percent"]],
    ["Each restored scale is off by about a percent at worst.", ["a percent"]],
    ["Everything runs in a few seconds.", ["a few seconds"]],
    ["It needs two hundred megabytes.", ["two hundred megabytes"]],
    ["The relative error is about 1e-9.", ["1e-9"]],
    ["The base takes 3GB and generation is 2.5x faster in 40ms.", ["3GB", "2.5x", "40ms"]],
    ["Levels run from -1 to 1, and 1-64 is a range, not a name.", ["1", "1", "1-64"]],
    ["## 3 · Results after 600 steps", ["600"]],
    ["| run | loss |\n|---|---|\n| LoRA | 0.87 |", ["0.87"]],
    ["- the first item has 16 levels", ["16"]],
    ["A link to a file is not a source: [the notes](../README.md) say 48 GB.", ["48"]],
  ];
  for (const [markdown, expected] of planted) {
    test(JSON.stringify(markdown), () => assert.deepEqual(figuresIn(markdown), expected));
  }
});

describe("allowed numbers pass", () => {
  const allowed: string[] = [
    "Inline code: `cosine 0.93`, ``a `tick` 4.5``.",
    "Math: $r = 16$, $\\alpha / r$, $4 + 32/64 = 4.5$ bits, and\n\n$$\n\\frac{32}{64 \\cdot 256} = 0.002\n$$",
    "A fence:\n\n```bash\nnpx qlora-lab train --steps 300\n```\n\nand prose after it.",
    "Names: NF4, FP4, INT4, INT8, bf16, float32, 7B, 70B, Llama-2-7B, 4-bit, 16-bit, 8-bit, TinyStories-260K, E2M1, LLaMA-7B.",
    "## 3 · What the chart shows",
    "# 02 · NF4 from scratch",
    "1. First step\n2. Second step\n10) Tenth",
    "As lesson 05 shows, and lessons 01 and 04-06 use, and Lesson 3's chart.",
    "The paper reports 48 GB for 65B (Dettmers et al., 2023).",
    "See the [QLoRA paper](https://arxiv.org/abs/2305.14314): it reports 0.37 bits saved per parameter.",
    "Adam keeps two moments (Kingma and Ba, 2015), each 4 bytes per value.",
    "A picture ![histogram](https://example.org/fig-3.png) and a [link](03-double-quantization.ipynb).",
    "Spelled words that state no quantity: one outlier spoils its neighbours; two codes share a byte; run it several times.",
    "Escaped dollars \\$5 are text, but this is not math: costs \\$ 5.",
  ];
  const expectations: string[][] = [[], [], [], [], [], [], [], [], [], [], [], [], [], ["5", "5"]];
  allowed.forEach((markdown, i) => test(JSON.stringify(markdown.slice(0, 60)), () => assert.deepEqual(figuresIn(markdown), expectations[i])));

  test("a citation covers its own sentence only", () => {
    assert.deepEqual(figuresIn("The paper reports 48 GB (Dettmers et al., 2023). Here it takes 52 GB."), ["52"]);
  });
});

describe("findHandTypedFigures", () => {
  test("reports lesson, cell number, the figure with its words, and what to do; code cells are not prose", () => {
    const lesson = parseLesson("99-x", "# 99 · A lesson\n\n```ts\nconsole.log(0.93)\n```\n\nThe cosine is about 0.93 here.\n");
    const figures = findHandTypedFigures(lesson);
    assert.equal(figures.length, 1);
    const [f] = figures;
    assert.equal(f!.lesson, "99-x");
    assert.equal(f!.cell, 3);
    assert.equal(f!.figure, "0.93");
    assert.equal(f!.context, "The cosine is about 0.93 here.");
    assert.equal(f!.message, `99-x: cell 3: hand-typed figure "0.93" in "The cosine is about 0.93 here.": ${HAND_TYPED_FIGURE_ADVICE}`);
  });

  test("a figure planted in a real lesson is found, and only that one", () => {
    const lesson = readLesson("02-nf4-from-scratch");
    const before = findHandTypedFigures(lesson).length;
    lesson.cells.push({ cellType: "markdown", source: "The restored weights came back within about three minutes, cosine about 0.93." });
    const after = findHandTypedFigures(lesson);
    assert.deepEqual(after.slice(before).map((f) => [f.cell, f.figure]), [[lesson.cells.length, "three minutes"], [lesson.cells.length, "0.93"]]);
  });
});

describe("every lesson follows the markdown rule", () => {
  for (const name of LESSONS) {
    test(name, () => {
      const figures = findHandTypedFigures(readLesson(name));
      assert.equal(figures.length, 0, `${name}: ${figures.length} hand-typed figure(s) in its markdown:\n${figures.map((f) => f.message).join("\n")}`);
    });
  }
});

describe("notebooks/build.ts applies the rule", () => {
  const build = (args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", join(REPO, "notebooks", "build.ts"), ...args], { cwd: REPO, encoding: "utf8", timeout: 60_000 });

  test("--check and a build refuse a lesson with a hand-typed figure, naming it", () => {
    const dir = mkdtempSync(join(tmpdir(), "qlora-lab-rule-"));
    try {
      writeFileSync(join(dir, "99-planted.md"), "# 99 · Planted\n\nThe run took about three minutes.\n\n```ts\n1 + 1\n```\n");
      for (const args of [["--check"], ["--no-execute"], []]) {
        const result = build([...args, "--sources", dir, "99-planted"]);
        assert.equal(result.status, 1, `build.ts ${args.join(" ")}: ${result.stdout}${result.stderr}`);
        assert.match(result.stderr, /99-planted: cell 1: hand-typed figure "three minutes" in "The run took about three minutes\.": print it from a code cell/);
        assert.match(result.stderr, /99-planted: refused, 1 hand-typed figure in its markdown/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
