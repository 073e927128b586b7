// The one flag parser of every subcommand (cli/flags.ts): numbers and choices are checked with the
// project's one-line message, negative numbers after a space are values, and real commands refuse
// bad numbers before doing any work.
import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../lib/errors.js";
import { parseFlags } from "../../cli/flags.js";
import { hasStackTrace, runCli } from "./cli.js";

const spec = {
  r: { type: "integer", min: 1 },
  seed: { type: "integer" },
  timeout: { type: "number", above: 0, max: 100, default: 10 },
  kind: { type: "string", choices: ["nf4", "fp4"] },
  json: { type: "boolean" },
} as const;

const refuses = (argv: string[], message: RegExp) =>
  assert.throws(() => parseFlags("qlora-lab x", argv, spec), (error: unknown) => error instanceof InvalidArgumentError && message.test(error.message) && !error.message.includes("\n"));

test("numbers, defaults, booleans and choices parse to typed values", () => {
  const { values } = parseFlags("qlora-lab x", ["--r", "8", "--seed", "-3", "--kind=fp4", "--json"], spec);
  assert.deepEqual({ ...values }, { r: 8, seed: -3, timeout: 10, kind: "fp4", json: true });
  assert.deepEqual({ ...parseFlags("qlora-lab x", ["--timeout", "0.5"], spec).values }, { r: undefined, seed: undefined, timeout: 0.5, kind: undefined, json: undefined });
});

test("a negative number after a space is the flag's value, checked like any other", () => {
  refuses(["--r", "-1"], /^qlora-lab x: expected --r to be a positive integer, got -1\.$/);
  refuses(["--timeout", "-5"], /expected --timeout to be a number > 0 and <= 100, got -5\./);
  assert.equal(parseFlags("qlora-lab x", ["--seed", "-7"], spec).values.seed, -7);
});

test("text, zero, non-integers, unsafe integers and unknown choices are refused", () => {
  refuses(["--timeout", "abc"], /expected --timeout to be a number > 0 and <= 100, got abc\./);
  refuses(["--timeout", "0"], /got 0\./);
  refuses(["--timeout", ""], /--timeout to be a number/);
  refuses(["--r", "1.5"], /--r to be a positive integer, got 1\.5/);
  refuses(["--r", "1e300"], /--r to be an integer in \[1, 9007199254740991\], got 1e300\./);
  refuses(["--seed", "99999999999999999999"], /--seed to be an integer in \[-9007199254740991, 9007199254740991\]/);
  refuses(["--r", "0x10"], /--r to be a positive integer, got 0x10\./);
  refuses(["--kind", "int4"], /expected --kind nf4 or fp4, got int4\./);
  refuses(["--bogus"], /expected one of the options --help lists, got --bogus\./);
  refuses(["--r"], /expected a value after --r, got none\./);
  refuses(["stray"], /expected only options, got the argument "stray"/);
});

test("plan refuses absurd sizes and unknown quantization types with one line", { timeout: 60_000 }, async () => {
  const cases: Array<[string[], RegExp]> = [
    [["--r", "1e300"], /expected --r to be an integer in \[1, 9007199254740991\], got 1e300\./],
    [["--batch", "1e300"], /expected --batch to be an integer in \[1, 9007199254740991\]/],
    [["--seq-len", "99999999999999999999"], /expected --seq-len to be an integer in \[1, 9007199254740991\]/],
    [["--quant-type", "int4"], /expected --quant-type nf4 or fp4, got int4\./],
    [["--r", "-1"], /expected --r to be a positive integer, got -1\./],
  ];
  for (const [args, message] of cases) {
    const run = await runCli(["plan", "--model", "7b", "--method", "qlora", ...args], { limitS: 30 });
    assert.equal(run.status, 1, `${args.join(" ")}: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, message);
    assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
  }
});

test("run, compare and quantize refuse bad numbers before starting a kernel, training or reading", { timeout: 60_000 }, async () => {
  const cases: Array<[string[], RegExp]> = [
    [["run", "missing.ipynb", "--timeout", "abc"], /qlora-lab run: expected --timeout to be a number > 0 and <= 2147483, got abc\./],
    [["run", "missing.ipynb", "--timeout", "0"], /qlora-lab run: expected --timeout to be a number > 0 and <= 2147483, got 0\./],
    [["compare", "--steps", "-5"], /qlora-lab compare: expected --steps to be a non-negative integer, got -5\./],
    [["quantize", "missing", "--out", "x.safetensors", "--blocksize", "-64"], /qlora-lab quantize: expected --blocksize to be a positive integer, got -64\./],
  ];
  for (const [args, message] of cases) {
    const run = await runCli(args, { limitS: 30 });
    assert.equal(run.status, 1, `${args.join(" ")}: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, message);
    assert.equal(hasStackTrace(run.stderr), false, run.stderr);
    assert.ok(run.seconds < 20, `${args[0]} took ${run.seconds.toFixed(1)} s to refuse`);
  }
});
