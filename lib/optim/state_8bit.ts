// 8-bit blockwise optimizer state (Dettmers et al. 2022, arXiv 2110.02861; bitsandbytes' blockwise
// Adam): blocks of 256, m on the signed dynamic map, v on the unsigned one, a float32 absmax per block.
// TF.js has no uint8 dtype, so a chunk's codes travel as int32 tensors holding four codes each.
import * as tf from "@tensorflow/tfjs-core";
import { signedDynamicMap, unsignedDynamicMap } from "../quant/dynamic_map.js";
import type { HostArray, MomentCodec, StateSlots } from "./moment_codec.js";
import { hostView } from "./placement.js";
import { State8bitRunner, kernelMap, type KernelMap } from "./state_8bit_runner.js";

/** Block size of 8-bit optimizer state (bitsandbytes). */
export const STATE_8BIT_BLOCK = 256;

/** Payload bytes of one full block: 2 x 256 codes + 2 float32 scales. */
const BLOCK_PAYLOAD_BYTES = 2 * STATE_8BIT_BLOCK + 2 * 4;

/**
 * Bytes of 8-bit blockwise moments (m and v) of n elements: for each, a code per element and a float32
 * absmax per block of 256. On TF.js ("tfjs") the codes travel as int32 words, n rounded up to a
 * multiple of 4; bitsandbytes holds them as uint8 ("bitsandbytes").
 */
export function state8bitBytes(n: number, layout: "tfjs" | "bitsandbytes"): number {
  const codes = layout === "tfjs" ? 4 * Math.ceil(n / 4) : n;
  return 2 * codes + 2 * 4 * Math.ceil(n / STATE_8BIT_BLOCK);
}

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

/**
 * 8-bit blockwise moments; one instance per optimizer holds the two maps. Codes are computed by the
 * SIMD kernels of state_8bit_simd.ts (in place on the wasm backend's heap), which give the bits of
 * lib/quant's scalar quantizeBlockwise8bit / dequantizeBlockwise8bit.
 */
export class Blockwise8bitCodec implements MomentCodec {
  readonly kind = "8bit" as const;
  readonly decodeCopies = true;
  /** Signed dynamic map (first moment). */
  readonly signedMap = signedDynamicMap();
  /** Unsigned dynamic map (second moment). */
  readonly unsignedMap = unsignedDynamicMap();
  private readonly signed: KernelMap = kernelMap(this.signedMap);
  private readonly unsigned: KernelMap = kernelMap(this.unsignedMap);
  private readonly runner = new State8bitRunner();

  elementsPerPage(pageBytes: number): number {
    return Math.floor(pageBytes / BLOCK_PAYLOAD_BYTES) * STATE_8BIT_BLOCK;
  }

  payloadBytes(len: number): number {
    return state8bitBytes(len, "tfjs");
  }

  decode(payload: readonly tf.Tensor[], len: number): { m: tf.Tensor1D; v: tf.Tensor1D } {
    const [mCodes, mAbsmax, vCodes, vAbsmax] = payload as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const onHeap = (codes: tf.Tensor, absmax: tf.Tensor, map: KernelMap) => this.runner.dequantizeOnWasm(codes, absmax, len, map);
    const onHost = (codes: tf.Tensor, absmax: tf.Tensor, map: KernelMap) => {
      const out = new Float32Array(len);
      this.runner.dequantize(unpackCodes(hostView(codes) as Int32Array, len), hostView(absmax) as Float32Array, map, out);
      return tf.tensor1d(out);
    };
    return {
      m: onHeap(mCodes, mAbsmax, this.signed) ?? onHost(mCodes, mAbsmax, this.signed),
      v: onHeap(vCodes, vAbsmax, this.unsigned) ?? onHost(vCodes, vAbsmax, this.unsigned),
    };
  }

  encode(m: tf.Tensor1D, v: tf.Tensor1D): tf.Tensor[] {
    const len = m.size;
    const qm = this.runner.quantizeOnWasm(m, len, this.signed);
    const qv = qm && this.runner.quantizeOnWasm(v, len, this.unsigned);
    let payload: tf.Tensor[];
    if (qm && qv) payload = [...qm, ...qv];
    else {
      if (qm) tf.dispose(qm);
      payload = this.quantize(hostView(m) as Float32Array, hostView(v) as Float32Array).map((a) => tf.keep(tf.tensor1d(a, a instanceof Int32Array ? "int32" : "float32")));
    }
    m.dispose();
    v.dispose();
    return payload;
  }

  /** Host payload [m codes, m absmax, v codes, v absmax] of float32 moments. */
  quantize(m: Float32Array, v: Float32Array): HostArray[] {
    const one = (values: Float32Array, map: KernelMap): [Int32Array, Float32Array] => {
      const words = new Int32Array(Math.ceil(values.length / 4)); // zero padded
      const absmax = new Float32Array(Math.ceil(values.length / STATE_8BIT_BLOCK));
      this.runner.quantize(values, map, unpackCodes(words, values.length), absmax);
      return [words, absmax];
    };
    return [...one(m, this.signed), ...one(v, this.unsigned)];
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
    const one = (codes: Uint8Array, absmax: Float32Array, map: KernelMap) => {
      const out = new Float32Array(codes.length);
      this.runner.dequantize(codes, absmax, map, out);
      return out;
    };
    return { ...slots, m: one(slots.m_codes, slots.m_absmax as Float32Array, this.signed), v: one(slots.v_codes as Uint8Array, slots.v_absmax as Float32Array, this.unsigned) };
  }
}
