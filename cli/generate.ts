// `qlora-lab generate`: load a model (HF folder or llama2.c .bin), optionally a PEFT LoRA adapter,
// and write text from a prompt, streaming tokens as they come (or one JSON record with --json).
import { resolveBackend } from "../lib/backend.js";
import { FileFormatError, InvalidArgumentError, expected } from "../lib/errors.js";
import * as tf from "@tensorflow/tfjs-core";
import { parseByteSize } from "../lib/memory/byte_size.js";
import { DEFAULT_MAX_NEW_TOKENS, detectModelFormat, findTokenizerFor, loadModel, loadTokenizer, readModelConfig, type LlamaModel } from "../lib/model/index.js";
import { checkGenerationBudget } from "../lib/plan/budget.js";
import type { GenerationStorage } from "../lib/plan/generation_plan.js";
import { shapeOfConfig } from "../lib/train/run_plan.js";
import { parseFlags } from "./flags.js";

const USAGE = `Usage: qlora-lab generate --model PATH --prompt TEXT [options]

Options:
  --model PATH          Hugging Face folder (config.json + model.safetensors) or llama2.c .bin
  --tokenizer PATH      tokenizer.json or llama2.c tokenizer .bin (default: found beside the model)
  --adapter DIR         PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)
  --prompt TEXT         text to continue ("" starts from BOS alone)
  --max-new-tokens N    tokens to generate at most (default 256)
  --temperature T       0 = greedy (default 0)
  --top-k K             sample from the K most likely tokens (default 0 = all)
  --top-p P             nucleus sampling threshold in (0, 1] (default 1)
  --seed S              seed for sampling (default: random, printed with --json)
  --dtype D             store the projections in bf16 or f16 while loading (default f32)
  --quantize Q          store the projections in 4 bits while loading: nf4 or fp4 (double-quantized)
  --budget SIZE         memory the run may use ("8GiB", "512MiB", "8GB"): a run whose planned
                        memory is over it is refused before the model loads, with what would fit
  --json                print one JSON object: promptIds, ids (generated), text (generated),
                        fullText (prompt + generated), stoppedBy, seed, tokensPerSecond
  --logits              with --json, add promptLogits: the next-token logits after the prompt
  -h, --help            show this help`;

/** Runs `qlora-lab generate`; returns the exit code. */
export async function generate(argv: string[]): Promise<number> {
  const where = "qlora-lab generate";
  const { values } = parseFlags(where, argv, {
    model: { type: "string" },
    tokenizer: { type: "string" },
    adapter: { type: "string" },
    prompt: { type: "string" },
    "max-new-tokens": { type: "integer", min: 0 },
    temperature: { type: "number", min: 0 },
    "top-k": { type: "integer", min: 0 },
    "top-p": { type: "number", above: 0, max: 1 },
    seed: { type: "integer" },
    dtype: { type: "string", choices: ["f32", "bf16", "f16"] },
    quantize: { type: "string", choices: ["nf4", "fp4"] },
    budget: { type: "string" },
    json: { type: "boolean" },
    logits: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.model) throw new InvalidArgumentError(where, expected("--model PATH", "nothing", "Run with --help for usage."));
  if (values.logits && !values.json) throw new InvalidArgumentError(where, expected("--logits together with --json", "--logits alone"));
  if (values.prompt === undefined) throw new InvalidArgumentError(where, expected("--prompt TEXT", "nothing", 'Use --prompt "" to start from BOS alone.'));
  const options = { maxNewTokens: values["max-new-tokens"], temperature: values.temperature, topK: values["top-k"], topP: values["top-p"], seed: values.seed };
  if (values.dtype !== undefined && values.dtype !== "f32" && values.quantize !== undefined) throw new InvalidArgumentError(where, expected("one of --dtype and --quantize", `--dtype ${values.dtype} and --quantize ${values.quantize}`));
  const budget = values.budget === undefined ? undefined : parseByteSize(values.budget, `${where} --budget`);
  const storage = { dtype: values.dtype as "f32" | "bf16" | "f16" | undefined, quantize: values.quantize ? { type: values.quantize as "nf4" | "fp4", doubleQuant: true } : undefined };

  await resolveBackend();
  detectModelFormat(values.model); // a missing model is reported before a missing tokenizer
  const tokenizerPath = values.tokenizer ?? findTokenizerFor(values.model);
  if (!tokenizerPath) throw new FileFormatError(values.model, expected("a tokenizer beside the model (tokenizer.json, tokenizer.bin or tok*.bin)", "none", "Pass --tokenizer PATH."));
  const tokenizer = await loadTokenizer(tokenizerPath);
  const promptIds = tokenizer.encode(values.prompt, { bos: true });
  if (budget !== undefined) {
    // Planned before loading: refused, the model is never read.
    const config = readModelConfig(values.model);
    const tokens = Math.min(promptIds.length + (options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS), config.maxPositionEmbeddings); // generation stops when the context is full
    const setup = { storage: (values.quantize ?? values.dtype ?? "f32") as GenerationStorage, tokens: Math.max(tokens, 1), promptTokens: Math.max(1, Math.min(promptIds.length, tokens)) };
    checkGenerationBudget(where, budget, shapeOfConfig(config, values.model), setup, tf.getBackend());
  }
  const model = await loadModel(values.model, storage);
  try {
    if (values.adapter) await attachAdapter(model, values.adapter);
    const promptLogits = values.logits ? await nextTokenLogits(model, promptIds) : undefined;
    let printed = "";
    const generated: number[] = [];
    const result = await model.generate(promptIds, {
      ...options,
      onToken: values.json
        ? undefined
        : (id) => {
            // Decode the whole continuation each time so multi-byte characters print once complete.
            generated.push(id);
            const text = tokenizer.decode([...promptIds, ...generated]);
            if (text.length > printed.length && !text.endsWith("\uFFFD")) {
              process.stdout.write(text.slice(printed.length));
              printed = text;
            }
          },
    });
    const fullText = tokenizer.decode([...promptIds, ...result.ids]);
    const promptText = tokenizer.decode(promptIds);
    if (values.json) {
      const text = fullText.startsWith(promptText) ? fullText.slice(promptText.length) : tokenizer.decode(result.ids);
      console.log(JSON.stringify({ promptIds, ids: result.ids, text, fullText, stoppedBy: result.stoppedBy, seed: result.seed, tokensPerSecond: Number(result.tokensPerSecond.toFixed(2)), ...(promptLogits ? { promptLogits } : {}) }));
    } else {
      if (fullText.length > printed.length) process.stdout.write(fullText.slice(printed.length));
      process.stdout.write("\n");
    }
    return 0;
  } finally {
    model.dispose();
  }
}

/** The logits at the prompt's last position (what the first generated token is drawn from), as plain numbers. */
async function nextTokenLogits(model: LlamaModel, promptIds: number[]): Promise<number[]> {
  const last = tf.tidy(() => {
    const logits = model.forward(tf.tensor2d(promptIds, [1, promptIds.length], "int32")); // [1, T, V]
    return tf.reshape(tf.slice(logits, [0, promptIds.length - 1, 0], [1, 1, -1]), [-1]);
  });
  const values = Array.from(await last.data());
  last.dispose();
  return values;
}

/** The --adapter hook: applies a PEFT LoRA adapter with lib/lora's loadAdapter (the model's linears are swapped in place). */
async function attachAdapter(model: LlamaModel, dir: string): Promise<void> {
  const { loadAdapter } = await import("../lib/lora/index.js");
  loadAdapter(model, dir);
}
