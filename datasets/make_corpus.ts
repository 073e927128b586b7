// Writes datasets/corpus/stories.txt: the pretraining corpus of the project's base model, short
// stories from datasets/story_grammar.ts, one per line. Deterministic: seed 1234.
// Run: node --import tsx datasets/make_corpus.ts
import { mkdirSync } from "node:fs";
import { writeFileAtomic } from "../lib/io/atomic_write.js";
import { Rng } from "../lib/train/rng.js";
import { story } from "./story_grammar.js";

/** Stories in the corpus and the seed that makes them. */
export const CORPUS_STORIES = 4000;
export const CORPUS_SEED = 1234;

/** The corpus text: one story per line. */
export function makeCorpus(count = CORPUS_STORIES, seed = CORPUS_SEED): string {
  const rng = new Rng(seed);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(story(rng));
  return `${lines.join("\n")}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = new URL("./corpus/", import.meta.url);
  mkdirSync(dir, { recursive: true });
  const text = makeCorpus();
  writeFileAtomic(new URL("stories.txt", dir).pathname, text);
  console.log(`datasets/corpus/stories.txt: ${CORPUS_STORIES} stories, ${text.length} bytes`);
}
