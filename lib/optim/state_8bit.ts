// 8-bit blockwise optimizer state (Dettmers et al. 2022, arXiv 2110.02861; bitsandbytes' blockwise
// Adam): blocks of 256, m on the signed dynamic map, v on the unsigned one, a float32 absmax per block.
// TF.js has no uint8 dtype, so a chunk's codes travel as int32 tensors holding four codes each.
import * as tf from "@tensorflow/tfjs-core";
import { dequantizeBlockwise8bit, quantizeBlockwise8bit, signedDynamicMap, unsignedDynamicMap } from "../quant/dynamic_map.js";
import type { HostArray, MomentCodec, StateSlots } from "./moment_codec.js";

/** Block size of 8-bit optimizer state (bitsandbytes). */
export const STATE_8BIT_BLOCK = 256;

/** Payload bytes of one full block: 2 x 256 codes + 2 float32 scales. */
const BLOCK_PAYLOAD_BYTES = 2 * STATE_8BIT_BLOCK + 2 * 4;

/** Codes [n] as an int32 array of ceil(n / 4) words (little-endian bytes, zero padded). */
function packCodes(codes: Uint8Array): Int32Array {
  const words = new Int32Array(Math.ceil(codes.length / 4));
  new Uint8Array(words.buffer).set(codes);
  return words;
}

/** The first n codes held by packed int32 words. */
function unpackCodes(words: Int32Array, n: number): Uint8Array {
  return new Uint8Array(words.buffer, words.byteOffset, n);
}

/** 8-bit blockwise moments; one instance per optimizer holds the two maps. */
export class Blockwise8bitCodec implements MomentCodec {
  readonly kind = "8bit" as const;
  readonly decodeCopies = true;
  /** Signed dynamic map (first moment). */
  readonly signedMap = signedDynamicMap();
  /** Unsigned dynamic map (second moment). */
  readonly unsignedMap = unsignedDynamicMap();

  elementsPerPage(pageBytes: number): number {
    return Math.floor(pageBytes / BLOCK_PAYLOAD_BYTES) * STATE_8BIT_BLOCK;
  }

  payloadBytes(len: number): number {
    return 2 * 4 * Math.ceil(len / 4) + 2 * 4 * Math.ceil(len / STATE_8BIT_BLOCK);
  }

  decode(payload: readonly tf.Tensor[], len: number): { m: tf.Tensor1D; v: tf.Tensor1D } {
    const [mCodes, mAbsmax, vCodes, vAbsmax] = payload.map((t) => t.dataSync()) as [Int32Array, Float32Array, Int32Array, Float32Array];
    const m = dequantizeBlockwise8bit(unpackCodes(mCodes, len), mAbsmax, this.signedMap, STATE_8BIT_BLOCK);
    const v = dequantizeBlockwise8bit(unpackCodes(vCodes, len), vAbsmax, this.unsignedMap, STATE_8BIT_BLOCK);
    return { m: tf.tensor1d(m), v: tf.tensor1d(v) };
  }

  encode(m: tf.Tensor1D, v: tf.Tensor1D): tf.Tensor[] {
    const host = this.quantize(m.dataSync() as Float32Array, v.dataSync() as Float32Array);
    m.dispose();
    v.dispose();
    return host.map((a) => tf.keep(tf.tensor1d(a, a instanceof Int32Array ? "int32" : "float32")));
  }

  /** Host payload [m codes, m absmax, v codes, v absmax] of float32 moments. */
  quantize(m: Float32Array, v: Float32Array): HostArray[] {
    const qm = quantizeBlockwise8bit(m, this.signedMap, STATE_8BIT_BLOCK);
    const qv = quantizeBlockwise8bit(v, this.unsignedMap, STATE_8BIT_BLOCK);
    return [packCodes(qm.codes), qm.absmax, packCodes(qv.codes), qv.absmax];
  }

  toSlots(host: readonly HostArray[], len: number): StateSlots {
    const [mCodes, mAbsmax, vCodes, vAbsmax] = host as [Int32Array, Float32Array, Int32Array, Float32Array];
    return { m_codes: unpackCodes(mCodes, len).slice(), m_absmax: mAbsmax.slice(), v_codes: unpackCodes(vCodes, len).slice(), v_absmax: vAbsmax.slice() };
  }

  fromSlots(slots: StateSlots, start: number, len: number): HostArray[] {
    if (slots.m instanceof Float32Array && slots.v instanceof Float32Array) return this.quantize(slots.m.slice(start, start + len), slots.v.slice(start, start + len));
    const b0 = start / STATE_8BIT_BLOCK;
    const b1 = Math.ceil((start + len) / STATE_8BIT_BLOCK);
    return [
      packCodes((slots.m_codes as Uint8Array).subarray(start, start + len)),
      (slots.m_absmax as Float32Array).slice(b0, b1),
      packCodes((slots.v_codes as Uint8Array).subarray(start, start + len)),
      (slots.v_absmax as Float32Array).slice(b0, b1),
    ];
  }

  /** Whole-parameter float32 slots {m, v} from 8-bit slots (to resume 8-bit state in a 32-bit optimizer). */
  dequantizeSlots(slots: StateSlots): StateSlots {
    if (!(slots.m_codes instanceof Uint8Array)) return slots;
    return {
      ...slots,
      m: dequantizeBlockwise8bit(slots.m_codes, slots.m_absmax as Float32Array, this.signedMap, STATE_8BIT_BLOCK),
      v: dequantizeBlockwise8bit(slots.v_codes as Uint8Array, slots.v_absmax as Float32Array, this.unsignedMap, STATE_8BIT_BLOCK),
    };
  }
}
