// Fresh weights for training a LLaMA model from scratch: normal(0, 0.02) matrices, residual output
// projections scaled by 1/sqrt(2L) (GPT-2, llama2.c's train.py), unit RMSNorm weights.
import * as tf from "@tensorflow/tfjs-core";
import type { LlamaConfig } from "./config.js";
import { LlamaModel, expectedWeightShapes, type LlamaModelOptions } from "./llama.js";

/** Builds a freshly initialised model (normal(0, 0.02) weights, residual projections scaled by 1/sqrt(2L), unit norms), as GPT-2 and llama2.c do. */
export function initLlamaModel(config: LlamaConfig, options: LlamaModelOptions & { seed?: number } = {}): LlamaModel {
  const seed = options.seed ?? 0;
  const weights = new Map<string, Float32Array>();
  let index = 0;
  for (const [name, shape] of expectedWeightShapes(config)) {
    index++;
    if (shape.length === 1) {
      weights.set(name, new Float32Array(shape[0]!).fill(1));
      continue;
    }
    const std = /o_proj|down_proj/.test(name) ? 0.02 / Math.sqrt(2 * config.numLayers) : 0.02;
    const drawn = tf.randomNormal(shape, 0, std, "float32", seed * 1000 + index);
    weights.set(name, Float32Array.from(drawn.dataSync())); // read outside tf.tidy, which would walk a returned typed array element by element
    drawn.dispose();
  }
  return new LlamaModel(config, weights, options);
}

