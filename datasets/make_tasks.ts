// Writes the fine-tuning tasks to datasets/tasks/<name>/{train,eval}.jsonl (prompt/response
// pairs) from datasets/story_grammar.ts. Deterministic: each task and split has its own seed.
// Run: node --import tsx datasets/make_tasks.ts
import { writeFileAtomic } from "../lib/io/atomic_write.js";
import { Rng } from "../lib/train/rng.js";
import { ACTIVITIES, ANIMALS, COLORS, FEELINGS, OBJECTS, OBJECT_ACTIONS, PET_NAMES, PLACES, SIZES, TIMES, randomChild } from "./story_grammar.js";

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

/**
 * "who": fixed-format extraction from a story opening with one named child; the answer is the
 * name. Exact match; naming one of the grammar's 32 children at random scores about 3 %.
 */
function whoExample(rng: Rng): TaskExample {
  const hero = randomChild(rng);
  const H = hero.he.charAt(0).toUpperCase() + hero.he.slice(1);
  const place = rng.pick(PLACES);
  const activity = rng.pick(ACTIVITIES);
  const feeling = rng.pick(FEELINGS);
  const opening = rng.pick([
    `Once upon a time, there was a ${hero.kind} named ${hero.name}.`,
    `There was once a ${hero.kind} named ${hero.name}.`,
    `${hero.name} was ${/^[aeiou]/.test(feeling) ? "an" : "a"} ${feeling} ${hero.kind}.`,
  ]);
  const story = `${opening} ${H} loved to ${activity}. One ${rng.pick(TIMES)}, ${hero.he} went to the ${place}.`;
  const question = rng.pick([`Who went to the ${place}?`, `Who loved to ${activity}?`, `What was the name of the ${hero.kind}?`]);
  return { prompt: `${story}\nQ: ${question}\nA:`, response: ` ${hero.name}` };
}

/** Adjective pairs of the "opposite" task (words the grammar already uses). */
export const OPPOSITES: ReadonlyArray<readonly [string, string]> = [
  ["big", "small"], ["huge", "tiny"], ["old", "new"], ["happy", "sad"], ["calm", "angry"],
  ["black", "white"], ["warm", "cold"], ["fast", "slow"], ["high", "low"], ["soft", "hard"],
];

/**
 * "opposite": a mapping the base never saw, asked in a fixed format after a varied sentence; the
 * answer is one word. Exact match; answering one of the 20 adjectives at random scores 5 %.
 */
function oppositeExample(rng: Rng): TaskExample {
  const [a, b] = rng.pick(OPPOSITES);
  const [word, answer] = rng.chance(0.5) ? [a, b] : [b, a];
  const who = randomChild(rng).name;
  const thing = rng.pick([...OBJECTS, ...ANIMALS]);
  const lead = rng.pick([`${who} saw a ${word} ${thing}.`, `${who} had a ${word} ${thing}.`, `The ${thing} was ${word}.`, `${who} said the ${thing} was ${word}.`]);
  return { prompt: `${lead}\nQ: What is the opposite of ${word}?\nA:`, response: ` ${answer}` };
}

/** Where each animal lives in the "home" task: a new fact per animal. */
export const HOMES: ReadonlyArray<readonly [string, string]> = [
  ["dog", "house"], ["cat", "garden"], ["bird", "forest"], ["rabbit", "farm"], ["bear", "hill"],
  ["fox", "castle"], ["duck", "pond"], ["frog", "river"], ["mouse", "library"], ["horse", "beach"],
];

/** "home": new facts (which place each animal lives in), asked about a varied scene. Exact match; 1/10 by guessing one of the ten places. */
function homeExample(rng: Rng): TaskExample {
  const [animal, home] = rng.pick(HOMES);
  const who = randomChild(rng).name;
  const lead = rng.pick([`${who} saw a ${rng.pick(SIZES)} ${animal}.`, `${who} had a ${animal} named ${rng.pick(PET_NAMES)}.`, `One ${rng.pick(TIMES)}, ${who} met a ${animal}.`]);
  return { prompt: `${lead}\nQ: Where does the ${animal} live?\nA:`, response: ` ${home}` };
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
  { name: "opposite", description: "the opposite of an adjective, asked in a fixed format (exact match)", seed: 505, train: 2000, eval: 200, make: oppositeExample },
  { name: "home", description: "new facts: where each animal lives (exact match)", seed: 606, train: 2000, eval: 200, make: homeExample },
  { name: "who", description: "who is the story about: answer the child's name from a story opening (exact match)", seed: 404, train: 2000, eval: 200, make: whoExample },
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
