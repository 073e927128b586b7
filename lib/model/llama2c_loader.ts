// Reads a llama2.c checkpoint (github.com/karpathy/llama2.c, run.c "version 0" export): seven int32
// header fields, then float32 weights. Its RoPE rotates adjacent pairs (2i, 2i+1) of each head; the
// q/k rows are permuted here to Hugging Face's rotate-half layout (i, i + D/2), so one RoPE runs.
import { readFileSync, statSync } from "node:fs";
import { FileFormatError, expected } from "../errors.js";
import { toFloat32 } from "../io/safetensors.js";
import { validateLlamaConfig, type LlamaConfig } from "./config.js";
import type { LoadedWeights } from "./hf_loader.js";

const HEADER_BYTES = 7 * 4;

/** Reads a llama2.c .bin into a config and HF-named float32 weights (q/k rows permuted to rotate-half). */
export function readLlama2c(path: string): LoadedWeights {
  const size = statSync(path).size;
  if (size < HEADER_BYTES) throw new FileFormatError(path, expected(`a llama2.c checkpoint of at least ${HEADER_BYTES} bytes`, `${size} bytes`, "The file is truncated."));
  const bytes = new Uint8Array(readFileSync(path));
  const header = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (header.getUint32(0, true) === 0x616b3432) {
    throw new FileFormatError(path, expected('a llama2.c "version 0" (legacy) export', `a versioned export (magic "ak42", version ${header.getInt32(4, true)})`, "Re-export with llama2.c's export.py --version 0, or use a Hugging Face folder."));
  }
  const [dim, hidden, layers, heads, kvHeads, signedVocab, seqLen] = Array.from({ length: 7 }, (_, i) => header.getInt32(i * 4, true)) as [number, number, number, number, number, number, number];
  const vocab = Math.abs(signedVocab);
  const config: LlamaConfig = {
    vocabSize: vocab,
    hiddenSize: dim,
    intermediateSize: hidden,
    numLayers: layers,
    numHeads: heads,
    numKvHeads: kvHeads,
    maxPositionEmbeddings: seqLen,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    tieWordEmbeddings: signedVocab > 0,
    bosTokenId: 1,
    eosTokenId: 2,
  };
  try {
    validateLlamaConfig(config, path);
  } catch (error) {
    throw new FileFormatError(path, `${(error as Error).message.replace(`${path}: `, "")} (header: dim ${dim}, hidden_dim ${hidden}, n_layers ${layers}, n_heads ${heads}, n_kv_heads ${kvHeads}, vocab_size ${signedVocab}, seq_len ${seqLen}). Is this a llama2.c checkpoint?`);
  }
  const headSize = dim / heads;
  const kvDim = kvHeads * headSize;
  const counts: [string, number][] = [
    ["token_embedding", vocab * dim],
    ["rms_att", layers * dim],
    ["wq", layers * dim * dim],
    ["wk", layers * kvDim * dim],
    ["wv", layers * kvDim * dim],
    ["wo", layers * dim * dim],
    ["rms_ffn", layers * dim],
    ["w1", layers * hidden * dim],
    ["w2", layers * dim * hidden],
    ["w3", layers * hidden * dim],
    ["rms_final", dim],
    ["freq_cis", seqLen * headSize], // two legacy [seq_len, head_size / 2] tables, unused
    ["wcls", config.tieWordEmbeddings ? 0 : vocab * dim],
  ];
  const need = HEADER_BYTES + 4 * counts.reduce((sum, [, n]) => sum + n, 0);
  if (size < need) throw new FileFormatError(path, expected(`${need} bytes for this header's shapes`, `${size} bytes`, "The file is truncated."));
  const arrays = new Map<string, Float32Array>();
  let offset = HEADER_BYTES;
  for (const [name, count] of counts) {
    arrays.set(name, toFloat32(bytes.subarray(offset, offset + count * 4), "F32", `${path}: ${name}`));
    offset += count * 4;
  }
  const perLayer = (name: string, l: number, rows: number, cols: number) => arrays.get(name)!.subarray(l * rows * cols, (l + 1) * rows * cols);
  const weights = new Map<string, Float32Array>([["model.embed_tokens.weight", arrays.get("token_embedding")!]]);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    weights.set(`${p}.input_layernorm.weight`, perLayer("rms_att", l, 1, dim));
    weights.set(`${p}.self_attn.q_proj.weight`, adjacentToHalfRows(perLayer("wq", l, dim, dim), heads, headSize, dim));
    weights.set(`${p}.self_attn.k_proj.weight`, adjacentToHalfRows(perLayer("wk", l, kvDim, dim), kvHeads, headSize, dim));
    weights.set(`${p}.self_attn.v_proj.weight`, perLayer("wv", l, kvDim, dim));
    weights.set(`${p}.self_attn.o_proj.weight`, perLayer("wo", l, dim, dim));
    weights.set(`${p}.post_attention_layernorm.weight`, perLayer("rms_ffn", l, 1, dim));
    weights.set(`${p}.mlp.gate_proj.weight`, perLayer("w1", l, hidden, dim));
    weights.set(`${p}.mlp.down_proj.weight`, perLayer("w2", l, dim, hidden));
    weights.set(`${p}.mlp.up_proj.weight`, perLayer("w3", l, hidden, dim));
  }
  weights.set("model.norm.weight", arrays.get("rms_final")!);
  if (!config.tieWordEmbeddings) weights.set("lm_head.weight", arrays.get("wcls")!);
  return { config, weights };
}

/**
 * Reorders the rows of a q or k projection [heads * D, cols] within each head from adjacent pairs
 * (row 2i pairs with 2i+1) to halves (row i pairs with i + D/2): new row i = old 2i, new row i + D/2 = old 2i + 1.
 */
export function adjacentToHalfRows(weight: Float32Array, heads: number, headSize: number, cols: number): Float32Array {
  const out = new Float32Array(weight.length);
  const half = headSize / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (const j of [0, 1]) {
        const from = (h * headSize + 2 * i + j) * cols;
        const to = (h * headSize + j * half + i) * cols;
        out.set(weight.subarray(from, from + cols), to);
      }
    }
  }
  return out;
}
