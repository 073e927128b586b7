// The base a PiSSA or LoftQ adapter belongs to. Those initialisations change the frozen base (the
// residual W - scaling * B0 A0, or LoftQ's quantized backbone), so the adapter only works on that
// base: PEFT's examples save it beside the adapter, and so does this.
import { InvalidArgumentError, expected } from "../errors.js";
import type { LlamaModel } from "../model/llama.js";
import { saveModel } from "../model/load_model.js";
import type { LoraModel } from "./lora_model.js";

/**
 * Writes the model without its adapters as a Hugging Face folder (config.json + model.safetensors,
 * float32): after PiSSA the residual, after LoftQ the backbone dequantized (as PEFT's LoftQ example
 * saves it; loading it with loadModel(dir, { quantize }) with the same settings gives the backbone's
 * codes back). Embeddings, norms and linears without adapters are written as they are.
 */
export async function saveBaseModel(lora: LoraModel<LlamaModel>, dir: string): Promise<void> {
  if (typeof dir !== "string" || dir === "") throw new InvalidArgumentError("saveBaseModel", expected("a folder path (string)", String(dir)));
  await lora.withAdaptersDisabled(() => saveModel(lora.model, dir));
}
