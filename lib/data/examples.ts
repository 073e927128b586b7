// The shapes of training data: supervised prompt/response pairs (loss on the response only) and
// plain text (loss on every token), as every loader returns them.

/** A supervised example: the model reads `prompt` and learns to write `response`. */
export interface PromptExample {
  prompt: string;
  response: string;
}

/** A plain-text example: the model learns every token of `text`. */
export interface TextExample {
  text: string;
}

/** One training example of either kind. */
export type Example = PromptExample | TextExample;

/** True when the example is a prompt/response pair. */
export function isPromptExample(example: Example): example is PromptExample {
  return (example as PromptExample).prompt !== undefined;
}

/** Where each example came from (file and 1-based line), for error messages. */
export interface ExampleSource {
  file: string;
  line: number;
}

/** Examples read from a file, with the line each came from. */
export interface LoadedExamples {
  file: string;
  examples: Example[];
  sources: ExampleSource[];
}
