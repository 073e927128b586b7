// Module-name patterns from adapter configs (target_modules, exclude_modules, rank_pattern,
// alpha_pattern, layers_pattern), matched in linear time. A downloaded adapter_config.json may hold
// any regex; JavaScript's backtracking engine can take exponential time on patterns such as
// "(([a-z_.0-9])+)+X", which would freeze loading. Here the pattern is parsed into a small
// automaton and simulated over the set of states it can be in (Thompson's construction), so a
// match costs at most (name length x automaton size) steps, whatever the pattern.
//
// Supported: literals and escapes, ".", classes [...] and [^...], \d \w \s and their negations,
// groups (capturing, named, non-capturing), "|", quantifiers * + ? {n} {n,} {n,m} (lazy or not),
// and ^ $. Refused with a clear message: backreferences, lookaround, \b \B (not regular, or not needed
// for module names).

/** A compiled module pattern: test() is a full match of the whole name. */
export interface ModulePattern {
  readonly source: string;
  test(name: string): boolean;
}

/** Why a pattern cannot be compiled (the caller adds which config key held it). */
export class ModulePatternError extends Error {
  override name = "ModulePatternError";
}

/** The most automaton states one pattern may compile to (a bound on matching work per character). */
export const MAX_PATTERN_STATES = 10_000;
/** The largest count a {n,m} quantifier may use. */
export const MAX_REPEAT_COUNT = 1_000;

/** Compiles `source` (JavaScript regex syntax, no flags) for full matches of module names. */
export function compileModulePattern(source: string): ModulePattern {
  try {
    new RegExp(source); // syntax errors read as the engine reports them; compiling never backtracks
  } catch (error) {
    throw new ModulePatternError((error as Error).message);
  }
  const ast = new Parser(source).parse();
  const automaton = new Automaton();
  const start = automaton.build(ast, automaton.add({ kind: "match" }));
  return { source, test: (name) => automaton.matches(start, name) };
}

type CharTest = (c: string) => boolean;
type Node =
  | { kind: "char"; test: CharTest }
  | { kind: "seq"; items: Node[] }
  | { kind: "alt"; options: Node[] }
  | { kind: "repeat"; item: Node; min: number; max: number }
  | { kind: "assert"; at: "start" | "end" };

const isLineTerminator = (c: string) => c === "\n" || c === "\r" || c === "\u2028" || c === "\u2029";
const isDigit = (c: string) => c >= "0" && c <= "9";
const isWord = (c: string) => isDigit(c) || (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_";
const isSpace = (c: string) => /\s/.test(c); // one character against a fixed class: constant time
const CLASS_ESCAPES: Record<string, CharTest> = {
  d: isDigit,
  D: (c) => !isDigit(c),
  w: isWord,
  W: (c) => !isWord(c),
  s: isSpace,
  S: (c) => !isSpace(c),
};
const CONTROL_ESCAPES: Record<string, string> = { t: "\t", n: "\n", r: "\r", f: "\f", v: "\v", "0": "\0" };

/** A recursive-descent parser for the supported subset of JavaScript's regex syntax. */
class Parser {
  private at = 0;
  constructor(private readonly source: string) {}

  parse(): Node {
    const node = this.alternation();
    if (this.at < this.source.length) this.fail(`unexpected "${this.source[this.at]}"`);
    return node;
  }

  private alternation(): Node {
    const options = [this.sequence()];
    while (this.peek() === "|") {
      this.at++;
      options.push(this.sequence());
    }
    return options.length === 1 ? options[0]! : { kind: "alt", options };
  }

  private sequence(): Node {
    const items: Node[] = [];
    while (this.at < this.source.length && this.peek() !== "|" && this.peek() !== ")") {
      const atom = this.atom();
      items.push(this.quantified(atom));
    }
    return items.length === 1 ? items[0]! : { kind: "seq", items };
  }

  private quantified(atom: Node): Node {
    let min: number;
    let max: number;
    const c = this.peek();
    if (c === "*") [min, max] = [0, Infinity];
    else if (c === "+") [min, max] = [1, Infinity];
    else if (c === "?") [min, max] = [0, 1];
    else if (c === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.source.slice(this.at));
      if (!m) return atom; // a "{" that starts no count is a literal (as JavaScript reads it)
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
      if (min > MAX_REPEAT_COUNT || (max !== Infinity && max > MAX_REPEAT_COUNT)) this.fail(`a repeat count above ${MAX_REPEAT_COUNT} (${m[0]})`);
      this.at += m[0].length - 1;
    } else return atom;
    this.at++;
    if (this.peek() === "?") this.at++; // lazy or greedy: the same set of names matches
    if (atom.kind === "assert") return atom;
    return this.quantified({ kind: "repeat", item: atom, min, max });
  }

  private atom(): Node {
    const c = this.source[this.at++]!;
    switch (c) {
      case "(":
        return this.group();
      case "[":
        return this.characterClass();
      case ".":
        return { kind: "char", test: (x) => !isLineTerminator(x) };
      case "^":
        return { kind: "assert", at: "start" };
      case "$":
        return { kind: "assert", at: "end" };
      case "\\":
        return { kind: "char", test: this.escape(false) };
      default:
        return literal(c);
    }
  }

  private group(): Node {
    if (this.source.startsWith("?:", this.at)) this.at += 2;
    else if (/^\?<[=!]|^\?[=!]/.test(this.source.slice(this.at))) this.fail("lookaround ((?=, (?!, (?<=, (?<!)");
    else if (this.source.startsWith("?<", this.at)) {
      const close = this.source.indexOf(">", this.at);
      if (close < 0) this.fail("an unterminated group name");
      this.at = close + 1;
    }
    const inner = this.alternation();
    if (this.source[this.at] !== ")") this.fail('a group without its ")"');
    this.at++;
    return inner;
  }

  private characterClass(): Node {
    const negated = this.peek() === "^";
    if (negated) this.at++;
    const tests: CharTest[] = [];
    while (this.peek() !== "]") {
      if (this.at >= this.source.length) this.fail('a class without its "]"');
      const first = this.classAtom();
      if (this.peek() === "-" && this.source[this.at + 1] !== "]" && this.at + 1 < this.source.length && typeof first === "string") {
        this.at++;
        const last = this.classAtom();
        if (typeof last === "string") {
          tests.push((x) => x >= first && x <= last);
          continue;
        }
        tests.push(literal(first).test, literal("-").test, last);
        continue;
      }
      tests.push(typeof first === "string" ? literal(first).test : first);
    }
    this.at++;
    const inClass = (x: string) => tests.some((t) => t(x));
    return { kind: "char", test: negated ? (x) => !inClass(x) : inClass };
  }

  /** One member of a class: a single character (for ranges), or a class escape such as \d. */
  private classAtom(): string | CharTest {
    const c = this.source[this.at++]!;
    if (c !== "\\") return c;
    if (this.peek() === "b") {
      this.at++;
      return "\b";
    }
    return this.escape(true);
  }

  /** The character (as a one-character string) or class an escape after "\" stands for. */
  private escape(inClass: true): string | CharTest;
  private escape(inClass: false): CharTest;
  private escape(inClass: boolean): string | CharTest {
    const c = this.source[this.at++];
    if (c === undefined) this.fail('a "\\" at the end');
    if (CLASS_ESCAPES[c]) return CLASS_ESCAPES[c];
    if (c === "b" || c === "B") this.fail(`the word boundary \\${c}`);
    if (c >= "1" && c <= "9") this.fail(`the backreference \\${c}`);
    if (c === "k" && this.peek() === "<") this.fail("the named backreference \\k<...>");
    let char: string;
    if (CONTROL_ESCAPES[c] !== undefined && !(c === "0" && isDigit(this.peek() ?? ""))) char = CONTROL_ESCAPES[c];
    else if (c === "x" && /^[0-9a-fA-F]{2}/.test(this.source.slice(this.at))) {
      char = String.fromCharCode(parseInt(this.source.slice(this.at, this.at + 2), 16));
      this.at += 2;
    } else if (c === "u" && /^[0-9a-fA-F]{4}/.test(this.source.slice(this.at))) {
      char = String.fromCharCode(parseInt(this.source.slice(this.at, this.at + 4), 16));
      this.at += 4;
    } else if (c === "c" && /^[a-zA-Z]/.test(this.source.slice(this.at))) {
      char = String.fromCharCode(this.source.charCodeAt(this.at) % 32);
      this.at += 1;
    } else if (c === "0") this.fail("a legacy octal escape");
    else char = c; // an escaped punctuation or letter stands for itself
    return inClass ? char : literal(char).test;
  }

  private peek(): string | undefined {
    return this.source[this.at];
  }

  private fail(what: string): never {
    throw new ModulePatternError(`it uses ${what}, which module patterns do not support (only literals, ., classes, groups, | and quantifiers)`);
  }
}

function literal(c: string): { kind: "char"; test: CharTest } {
  return { kind: "char", test: (x) => x === c };
}

type State =
  | { kind: "char"; test: CharTest; next: number }
  | { kind: "split"; next: number[] }
  | { kind: "assert"; at: "start" | "end"; next: number }
  | { kind: "match" };

/** The automaton: states reached without reading (split, assert) are followed at each step. */
class Automaton {
  private readonly states: State[] = [];

  add(state: State): number {
    if (this.states.length >= MAX_PATTERN_STATES) throw new ModulePatternError(`it compiles to more than ${MAX_PATTERN_STATES} states (too long, or repeat counts too large)`);
    this.states.push(state);
    return this.states.length - 1;
  }

  /** Builds `node` so that it continues to state `next`; returns its entry state. */
  build(node: Node, next: number): number {
    switch (node.kind) {
      case "char":
        return this.add({ kind: "char", test: node.test, next });
      case "assert":
        return this.add({ kind: "assert", at: node.at, next });
      case "seq":
        return node.items.reduceRight((after, item) => this.build(item, after), next);
      case "alt":
        return this.add({ kind: "split", next: node.options.map((o) => this.build(o, next)) });
      case "repeat": {
        let after = next;
        if (node.max === Infinity) {
          const loop = this.add({ kind: "split", next: [] });
          (this.states[loop] as { next: number[] }).next.push(this.build(node.item, loop), next);
          after = loop;
        } else {
          for (let i = node.min; i < node.max; i++) after = this.add({ kind: "split", next: [this.build(node.item, after), next] });
        }
        for (let i = 0; i < node.min; i++) after = this.build(node.item, after);
        return after;
      }
    }
  }

  /** Whether the whole of `name` leads from `start` to the match state. */
  matches(start: number, name: string): boolean {
    let current = this.closure([start], 0, name.length);
    for (let i = 0; i < name.length && current.length > 0; i++) {
      const c = name[i]!;
      const stepped: number[] = [];
      for (const s of current) {
        const state = this.states[s]!;
        if (state.kind === "char" && state.test(c)) stepped.push(state.next);
      }
      current = this.closure(stepped, i + 1, name.length);
    }
    return current.some((s) => this.states[s]!.kind === "match");
  }

  /** `from` plus every state reachable from it without reading, at position `at` of a `length` name. */
  private closure(from: number[], at: number, length: number): number[] {
    const seen = new Set<number>();
    const stack = [...from];
    while (stack.length > 0) {
      const s = stack.pop()!;
      if (seen.has(s)) continue;
      seen.add(s);
      const state = this.states[s]!;
      if (state.kind === "split") stack.push(...state.next);
      else if (state.kind === "assert" && (state.at === "start" ? at === 0 : at === length)) stack.push(state.next);
    }
    return [...seen];
  }
}
