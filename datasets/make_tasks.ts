// Writes the fine-tuning tasks to datasets/tasks/<name>/{train,eval}.jsonl (prompt/response
// pairs) from datasets/story_grammar.ts. Deterministic: each task and split has its own seed.
// Run: node --import tsx datasets/make_tasks.ts
import { writeFileAtomic } from "../lib/io/atomic_write.js";
import { Rng } from "../lib/train/rng.js";
import { ANIMALS, COLORS, OBJECTS, OBJECT_ACTIONS, PLACES, randomChild } from "./story_grammar.js";

/** One supervised example: the model sees `prompt` and learns to write `response`. */
export interface TaskExample {
  prompt: string;
  response: string;
}

/** A task generator and the split sizes it ships with. */
export interface TaskSpec {
  name: string;
  description: string;
  seed: number;
  train: number;
  eval: number;
  make(rng: Rng): TaskExample;
}

/**
 * "qa": fixed-format extraction. Three characters each do something; the question asks who did
 * one of the things; the answer is one name. Exact match; answering a name from the text at
 * random scores about 1/3.
 */
function qaExample(rng: Rng): TaskExample {
  const names: string[] = [];
  for (let i = 0; i < 3; i++) names.push(randomChild(rng, names).name);
  const usePlaces = rng.chance(0.5);
  const facts: string[] = [];
  const questions: string[] = [];
  if (usePlaces) {
    const places = rng.sample(PLACES, 3);
    names.forEach((n, i) => {
      facts.push(`${n} went to the ${places[i]}.`);
      questions.push(`Who went to the ${places[i]}?`);
    });
  } else {
    const verb = rng.pick(OBJECT_ACTIONS);
    const objects = rng.sample(OBJECTS, 3);
    names.forEach((n, i) => {
      const color = rng.chance(0.5) ? `${rng.pick(COLORS)} ` : "";
      facts.push(`${n} ${verb} a ${color}${objects[i]}.`);
      questions.push(`Who ${verb} the ${objects[i]}?`);
    });
  }
  const k = rng.int(3);
  return { prompt: `${facts.join(" ")}\nQ: ${questions[k]}\nA:`, response: ` ${names[k]}` };
}

/** "reverse": a transformation; write three words in reverse order. Exact match. */
function reverseExample(rng: Rng): TaskExample {
  const pool = rng.pick([OBJECTS, ANIMALS, COLORS, PLACES] as const);
  const words = rng.sample(pool as readonly string[], 3);
  return { prompt: `Reverse: ${words.join(" ")}\nA:`, response: ` ${[...words].reverse().join(" ")}` };
}

/** "color": answer in a fixed format with the color of the named object, read from a short scene. */
function colorExample(rng: Rng): TaskExample {
  const objects = rng.sample(OBJECTS, 2);
  const colors = rng.sample(COLORS, 2);
  const who = randomChild(rng).name;
  const k = rng.int(2);
  const scene = `${who} had a ${colors[0]} ${objects[0]} and a ${colors[1]} ${objects[1]}.`;
  return { prompt: `${scene}\nQ: What color was the ${objects[k]}?\nA:`, response: ` ${colors[k]}` };
}

/** The tasks the project ships. */
export const TASKS: readonly TaskSpec[] = [
  { name: "qa", description: "who did what: answer one name from a three-sentence scene (exact match)", seed: 101, train: 2000, eval: 200, make: qaExample },
  { name: "reverse", description: "write three words in reverse order (exact match)", seed: 202, train: 2000, eval: 200, make: reverseExample },
  { name: "color", description: "what color was the object: answer one word from a scene (exact match)", seed: 303, train: 2000, eval: 200, make: colorExample },
];

/** Train and eval examples of one task; eval prompts never occur in train. */
export function makeTask(spec: TaskSpec): { train: TaskExample[]; eval: TaskExample[] } {
  const rng = new Rng(spec.seed);
  const seen = new Set<string>();
  const draw = (n: number, out: TaskExample[]) => {
    let attempts = 0;
    while (out.length < n && attempts++ < n * 50) {
      const example = spec.make(rng);
      if (seen.has(example.prompt)) continue;
      seen.add(example.prompt);
      out.push(example);
    }
  };
  const evalSet: TaskExample[] = [];
  const train: TaskExample[] = [];
  draw(spec.eval, evalSet);
  draw(spec.train, train);
  return { train, eval: evalSet };
}

function toJsonl(examples: readonly TaskExample[]): string {
  return examples.map((e) => JSON.stringify({ prompt: e.prompt, response: e.response })).join("\n") + "\n";
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const spec of TASKS) {
    const { train, eval: evalSet } = makeTask(spec);
    const dir = new URL(`./tasks/${spec.name}/`, import.meta.url).pathname;
    writeFileAtomic(`${dir}train.jsonl`, toJsonl(train));
    writeFileAtomic(`${dir}eval.jsonl`, toJsonl(evalSet));
    const maxNewTokens = Math.max(...evalSet.map((e) => e.response.split(" ").length)) + 2;
    const card = { name: spec.name, description: spec.description, metric: "exact_match", maxNewTokens, seed: spec.seed, train: train.length, eval: evalSet.length };
    writeFileAtomic(`${dir}task.json`, JSON.stringify(card, null, 2) + "\n");
    console.log(`datasets/tasks/${spec.name}: ${train.length} train, ${evalSet.length} eval — ${spec.description}`);
  }
}
