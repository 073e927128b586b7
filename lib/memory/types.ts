// The vocabulary of the memory ledger: categories of resident bytes, and the interface every
// object that owns tensors implements so the ledger can account for it.

/** What a resident byte is for (the PyTorch profiler's grouping, split the way QLoRA needs). */
export type MemoryCategory =
  | "base_packed" // 4-bit codes of quantized base weights
  | "quant_constants" // absmax scales, nested scales, code books
  | "base_dense" // float32 base weights (dense linears, embeddings, norms)
  | "base_16bit" // bfloat16 / float16 base weights, held on the host and widened to float32 per product
  | "lora_params" // LoRA A and B
  | "gradients"
  | "optimizer_resident" // optimizer state held as backend tensors
  | "optimizer_paged_out" // optimizer state held in host memory or on disk
  | "activations"
  | "temporaries";

/** Every category, in the order charts stack them. */
export const MEMORY_CATEGORIES: readonly MemoryCategory[] = [
  "base_packed",
  "quant_constants",
  "base_dense",
  "base_16bit",
  "lora_params",
  "gradients",
  "optimizer_resident",
  "optimizer_paged_out",
  "activations",
  "temporaries",
];

/** One block of bytes an object holds. */
export interface MemoryItem {
  category: MemoryCategory;
  bytes: number;
  /** Module path or parameter name it belongs to, e.g. "model.layers.0.self_attn.q_proj". */
  owner?: string;
  /** True when the bytes live in TF.js backend tensors (and so count in tf.memory().numBytes). */
  onBackend: boolean;
  /** Where the bytes are: backend tensors, host memory (typed arrays), or a file on disk. */
  location?: MemoryLocation;
}

/** Where a block of bytes lives. */
export type MemoryLocation = "backend" | "host" | "disk";

/** Implemented by everything that owns tensors or buffers: layers, models, optimizers. */
export interface MemoryReporter {
  /** What this object holds right now. */
  memoryItems(): MemoryItem[];
}
