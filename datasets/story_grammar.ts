// The grammar behind qlora-lab's shipped text: characters, places, objects and events that
// make short children's stories. The corpus and the fine-tuning tasks both draw from it.
import { Rng } from "../lib/train/rng.js";

/** A person or animal in a story, with the pronouns its sentences need. */
export interface Character {
  name: string;
  /** "little girl", "boy", "dog", ... */
  kind: string;
  he: string;
  him: string;
  his: string;
}

export const GIRL_NAMES = ["Lily", "Mia", "Emma", "Anna", "Sara", "Lucy", "Ella", "Zoe", "Amy", "Rose", "Kate", "Nina", "Lena", "Ivy", "Ruby", "Grace"] as const;
export const BOY_NAMES = ["Tom", "Ben", "Sam", "Max", "Leo", "Jack", "Tim", "Dan", "Finn", "Noah", "Jake", "Luke", "Owen", "Alex", "Eli", "Theo"] as const;
export const ANIMALS = ["dog", "cat", "bird", "rabbit", "bear", "fox", "duck", "frog", "mouse", "horse"] as const;
export const PET_NAMES = ["Spot", "Fluffy", "Buddy", "Coco", "Pip", "Sunny", "Bella", "Rex"] as const;
export const PLACES = ["park", "forest", "beach", "garden", "school", "shop", "river", "farm", "lake", "hill", "castle", "zoo", "library", "kitchen", "yard", "pond"] as const;
export const OBJECTS = ["ball", "kite", "book", "box", "apple", "hat", "car", "flower", "stone", "cake", "cup", "drum", "shell", "leaf", "boat", "key", "toy", "map", "bell", "sock"] as const;
export const COLORS = ["red", "blue", "green", "yellow", "pink", "white", "black", "purple"] as const;
export const SIZES = ["big", "small", "tiny", "huge", "little", "shiny", "old", "new", "soft", "funny"] as const;
export const FEELINGS = ["happy", "sad", "scared", "excited", "surprised", "tired", "proud", "angry", "curious", "calm"] as const;
export const ACTIVITIES = ["play outside", "read books", "sing songs", "draw pictures", "run fast", "dance", "swim", "climb trees", "bake cakes", "help mom", "look at the stars", "build towers"] as const;
export const TIMES = ["day", "morning", "afternoon", "evening", "night"] as const;
export const WEATHER = ["the sun was bright", "it was raining", "the wind was strong", "it was cold", "it was warm", "the sky was blue", "it started to snow"] as const;
export const SPOTS = ["under a big tree", "behind a rock", "near the water", "in the grass", "on a bench", "by the door", "in a hole", "on the path"] as const;
export const MORALS = [
  "sharing makes everyone happy",
  "it is good to be kind",
  "friends help each other",
  "it is important to be brave",
  "being careful is smart",
  "saying sorry makes things better",
  "trying again is the way to learn",
  "every day can be an adventure",
] as const;

/** Past tense verbs a character can do to an object; [verb phrase before the object]. */
export const OBJECT_ACTIONS = ["found", "lost", "saw", "picked up", "painted", "hid", "dropped", "washed"] as const;

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function an(word: string): string {
  return /^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`;
}

/** A random child of either gender. */
export function randomChild(rng: Rng, exclude: readonly string[] = []): Character {
  const girl = rng.chance(0.5);
  const pool = (girl ? GIRL_NAMES : BOY_NAMES).filter((n) => !exclude.includes(n));
  const name = rng.pick(pool);
  const kind = rng.pick(girl ? ["little girl", "girl"] : ["little boy", "boy"]);
  return girl ? { name, kind, he: "she", him: "her", his: "her" } : { name, kind, he: "he", him: "him", his: "his" };
}

/** A named pet. */
export function randomPet(rng: Rng): Character {
  return { name: rng.pick(PET_NAMES), kind: rng.pick(ANIMALS), he: "it", him: "it", his: "its" };
}

/** "a red ball", "a big shiny kite", ... */
export function describedObject(rng: Rng): { phrase: string; noun: string } {
  const noun = rng.pick(OBJECTS);
  const words: string[] = [];
  if (rng.chance(0.6)) words.push(rng.pick(SIZES));
  if (rng.chance(0.6)) words.push(rng.pick(COLORS));
  words.push(noun);
  return { phrase: an(words.join(" ")), noun: words.join(" ") };
}

/** One short story (several sentences, one paragraph). */
export function story(rng: Rng): string {
  const hero = randomChild(rng);
  const friend = rng.chance(0.5) ? randomChild(rng, [hero.name]) : undefined;
  const pet = rng.chance(0.5) ? randomPet(rng) : undefined;
  const place = rng.pick(PLACES);
  const object = describedObject(rng);
  const H = capitalize(hero.he);
  const s: string[] = [];

  // Beginning.
  s.push(
    rng.pick([
      `Once upon a time, there was ${an(hero.kind)} named ${hero.name}.`,
      `There was once ${an(hero.kind)} named ${hero.name}.`,
      `${hero.name} was ${an(rng.pick(FEELINGS))} ${hero.kind}.`,
      `One ${rng.pick(TIMES)}, ${an(hero.kind)} named ${hero.name} woke up early.`,
    ]),
  );
  s.push(rng.pick([`${H} loved to ${rng.pick(ACTIVITIES)}.`, `${H} liked to ${rng.pick(ACTIVITIES)} and ${rng.pick(ACTIVITIES)}.`, `${hero.name} lived near the ${rng.pick(PLACES)}.`]));
  if (pet) s.push(rng.pick([`${hero.name} had ${an(pet.kind)} named ${pet.name}.`, `${capitalize(hero.his)} best friend was ${an(pet.kind)} called ${pet.name}.`]));

  // Going somewhere.
  const company = [friend?.name, pet?.name].filter(Boolean) as string[];
  const withWho = company.length ? ` with ${company.join(" and ")}` : "";
  s.push(
    rng.pick([
      `One ${rng.pick(TIMES)}, ${hero.name} went to the ${place}${withWho}.`,
      `One ${rng.pick(TIMES)}, ${hero.he} went to the ${place}${withWho}.`,
      `${capitalize(rng.pick(WEATHER))}, so ${hero.name} went to the ${place}${withWho}.`,
    ]),
  );
  if (rng.chance(0.5)) s.push(`${capitalize(rng.pick(WEATHER))}.`);

  // The event.
  const spot = rng.pick(SPOTS);
  switch (rng.int(5)) {
    case 0:
      s.push(`At the ${place}, ${hero.name} found ${object.phrase} ${spot}.`);
      s.push(`"Look!" said ${hero.name}. "I found ${object.phrase}!"`);
      if (friend) s.push(`${friend.name} was ${rng.pick(FEELINGS)}. ${capitalize(friend.he)} wanted to play with the ${object.noun} too.`);
      if (friend) s.push(rng.pick([`${hero.name} shared the ${object.noun} with ${friend.name}.`, `${hero.name} did not want to share at first, but then ${hero.he} gave the ${object.noun} to ${friend.name}.`]));
      else s.push(`${hero.name} played with the ${object.noun} all ${rng.pick(TIMES)}.`);
      break;
    case 1:
      s.push(`${hero.name} had ${object.phrase}, but ${hero.he} lost it at the ${place}.`);
      s.push(`${H} was very sad. ${H} looked ${spot} and ${rng.pick(SPOTS)}.`);
      if (pet) s.push(`Then ${pet.name} the ${pet.kind} ran ${spot} and found the ${object.noun}!`);
      else s.push(`At last, ${hero.he} saw the ${object.noun} ${spot}.`);
      s.push(`${hero.name} was ${rng.pick(["happy", "so happy", "very happy", "proud"])} again.`);
      break;
    case 2: {
      const animal = rng.pick(ANIMALS);
      s.push(`At the ${place}, ${hero.name} saw ${an(rng.pick(SIZES))} ${animal}.`);
      s.push(rng.pick([`The ${animal} was ${rng.pick(FEELINGS)}.`, `The ${animal} looked ${rng.pick(FEELINGS)} and alone.`]));
      s.push(`"Do not be afraid," said ${hero.name}. "I will help you."`);
      s.push(`${H} gave the ${animal} ${object.phrase}, and the ${animal} smiled.`);
      if (friend) s.push(`${friend.name} and ${hero.name} played with the ${animal} until ${rng.pick(TIMES)}.`);
      break;
    }
    case 3:
      s.push(`${hero.name} wanted to ${rng.pick(ACTIVITIES)}, but ${rng.pick(WEATHER)}.`);
      s.push(`${H} felt ${rng.pick(FEELINGS)}.`);
      s.push(friend ? `${friend.name} said, "Let us ${rng.pick(ACTIVITIES)} together!"` : `Then ${hero.he} had an idea.`);
      s.push(`${hero.name} made ${object.phrase} and put it ${spot}.`);
      break;
    default:
      s.push(`At the ${place}, ${hero.name} saw ${object.phrase} ${spot}.`);
      s.push(`${H} tried to reach it, but it was too high.`);
      s.push(friend ? `${friend.name} came to help. Together they got the ${object.noun}.` : `${H} tried again and again, and at last ${hero.he} got the ${object.noun}.`);
      break;
  }

  // Ending.
  s.push(
    rng.pick([
      `In the end, ${hero.name} went home ${rng.pick(["happy", "tired but happy", "with a big smile", "and had dinner"])}.`,
      `That ${rng.pick(TIMES)}, ${hero.name} told ${hero.his} mom about the ${place}.`,
      `${hero.name} learned that ${rng.pick(MORALS)}.`,
      `From that day on, ${hero.name} ${rng.pick(["always", "often"])} went to the ${place}.`,
    ]),
  );
  if (rng.chance(0.3)) s.push("The end.");
  return s.join(" ");
}
