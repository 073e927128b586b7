// How one chunk of AdamW's moments (m, v) is stored: as float32 (the reference) or as 8-bit
// blockwise codes (see state_8bit.ts). A payload is the list of backend tensors a chunk occupies.
import * as tf from "@tensorflow/tfjs-core";

/** Host-side copy of one payload tensor. */
export type HostArray = Float32Array | Int32Array;

/** Checkpoint slots of one parameter (or one chunk of it). */
export type StateSlots = Record<string, Float32Array | Uint8Array>;

/** Encodes and decodes the moments of a run of `len` elements. */
export interface MomentCodec {
  readonly kind: "float32" | "8bit";
  /** Elements in a full page of `pageBytes` bytes (0 when a page cannot hold one unit). */
  elementsPerPage(pageBytes: number): number;
  /** Bytes the payload of `len` elements occupies. */
  payloadBytes(len: number): number;
  /** Moments as float32 [len] tensors; when `decodeCopies` is false they ARE the payload tensors. */
  decode(payload: readonly tf.Tensor[], len: number): { m: tf.Tensor1D; v: tf.Tensor1D };
  readonly decodeCopies: boolean;
  /** New payload (kept tensors) from m, v [len]; takes ownership of m and v. */
  encode(m: tf.Tensor1D, v: tf.Tensor1D): tf.Tensor[];
  /** Checkpoint slots of one chunk from its host payload. */
  toSlots(host: readonly HostArray[], len: number): StateSlots;
  /** Host payload of elements [start, start + len) from a whole parameter's slots (any codec's form). */
  fromSlots(slots: StateSlots, start: number, len: number): HostArray[];
}

/** float32 moments: the payload is [m, v] itself. */
export const float32Codec: MomentCodec = {
  kind: "float32",
  elementsPerPage: (pageBytes) => Math.floor(pageBytes / 8),
  payloadBytes: (len) => 8 * len,
  decode: (payload) => ({ m: payload[0] as tf.Tensor1D, v: payload[1] as tf.Tensor1D }),
  decodeCopies: false,
  encode: (m, v) => [tf.keep(m), tf.keep(v)],
  toSlots: (host) => ({ m: host[0] as Float32Array, v: host[1] as Float32Array }),
  fromSlots: (slots, start, len) => {
    const m = slots.m;
    const v = slots.v;
    if (m instanceof Float32Array && v instanceof Float32Array) return [m.slice(start, start + len), v.slice(start, start + len)];
    throw new Error("float32Codec.fromSlots: expected float32 slots m and v; convert 8-bit slots first");
  },
};

/** Concatenates chunk slots into whole-parameter slots (slot by slot, in chunk order). */
export function concatSlots(chunks: readonly StateSlots[]): StateSlots {
  const out: StateSlots = {};
  for (const name of Object.keys(chunks[0] ?? {})) {
    const parts = chunks.map((c) => c[name]!);
    const total = parts.reduce((s, p) => s + p.length, 0);
    const joined = parts[0] instanceof Uint8Array ? new Uint8Array(total) : new Float32Array(total);
    let offset = 0;
    for (const part of parts) {
      joined.set(part as never, offset);
      offset += part.length;
    }
    out[name] = joined;
  }
  return out;
}
