// What the training loop needs from a model: a masked loss and its trainable variables
// (LlamaModel, with or without LoRA layers, fits), and what metrics need: generation.
import type * as tf from "@tensorflow/tfjs-core";
import type { MemoryItem } from "../memory/types.js";
import type { LossOptions } from "../model/llama.js";
import type { NamedVariable } from "../optim/optimizer.js";

/** A model the loop can train. */
export interface TrainableModel {
  /** Mean cross-entropy over counted positions: ids/targets [B, T] int32, mask [B, T] float32; options.gradientCheckpointing recomputes blocks in the backward. */
  loss(inputIds: tf.Tensor2D, targets: tf.Tensor2D, mask: tf.Tensor2D, options?: LossOptions): tf.Scalar;
  /** The parameters to update, by stable name. */
  trainableVariables(): NamedVariable[];
  /** Resident bytes by category (for memory records). */
  memoryItems?(): MemoryItem[];
  /** Whether dropout is on (LoRA models); evaluation turns it off for its pass. */
  readonly training?: boolean;
  setTraining?(training: boolean): void;
}

/** A model that can also write answers (for task metrics such as exact match). */
export interface GeneratingModel extends TrainableModel {
  generate(promptIds: number[], options: { maxNewTokens?: number; temperature?: number; eosTokenId?: number | null; seed?: number }): Promise<{ ids: number[] }>;
}
