// 16-bit floats as PyTorch stores them: bfloat16 (8 exponent bits, 7 fraction bits: float32's top
// half) and IEEE float16 (5 and 10). Converting from float32 rounds to nearest, ties to even, as
// `tensor.to(torch.bfloat16)` / `to(torch.float16)` do; values beyond the 16-bit range become
// infinities, float16's subnormals are kept. NaN becomes the canonical quiet NaN: 0x7FC0 for bfloat16
// (c10::BFloat16's rule) and 0x7E00 with the sign kept for float16 (PyTorch's FP16 conversion).
// The bits are returned as Uint16Array, the layout safetensors' BF16 and F16 use on little-endian hosts.

const floatBits = new Uint32Array(1);
const floatView = new Float32Array(floatBits.buffer);

/** bfloat16 bits of each value, rounded to nearest even. */
export function float32ToBfloat16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i]!;
    // NaN: exponent all ones and a non-zero fraction.
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = 0x7fc0;
    // Adding 0x7FFF plus the kept half's lowest bit rounds the dropped half to nearest even; a carry
    // runs into the exponent (and past the largest finite value into infinity) as it should.
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** float32 values of bfloat16 bits (exact: bfloat16 is float32's top half). */
export function bfloat16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = bits[i]! << 16;
  return out;
}

/** float16 bits of each value, rounded to nearest even. */
export function float32ToFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float16BitsOf(values[i]!);
  return out;
}

/** float32 values of float16 bits (exact: every float16 is a float32). */
export function float16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16Value(bits[i]!);
  return out;
}

/** The number float16 bits `h` stand for. */
export function float16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -24 * fraction;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** float16 bits of one float32 value. */
function float16BitsOf(value: number): number {
  floatView[0] = value;
  const x = floatBits[0]!;
  const sign = (x >>> 16) & 0x8000;
  const magnitude = x & 0x7fffffff;
  if (magnitude > 0x7f800000) return sign | 0x7e00; // NaN
  // 65520 (0x477FF000) is the midpoint between float16's largest finite value, 65504, and 65536: ties
  // to even round it, and all above it, to infinity.
  if (magnitude >= 0x477ff000) return sign | 0x7c00;
  if (magnitude < 0x38800000) {
    // Below 2^-14: a float16 subnormal, a multiple of 2^-24. |value| * 2^24 is exact in a double, so
    // rounding it to an integer (ties to even) is the conversion; 1024 lands on the smallest normal.
    const scaled = Math.abs(floatView[0]!) * 2 ** 24;
    let whole = Math.floor(scaled);
    const rest = scaled - whole;
    if (rest > 0.5 || (rest === 0.5 && whole % 2 === 1)) whole++;
    return sign | whole;
  }
  // Normal: re-bias the exponent (127 -> 15) and drop 13 fraction bits, rounding to nearest even;
  // a carry out of the fraction runs into the exponent.
  let h = (magnitude - 0x38000000) >>> 13;
  const dropped = magnitude & 0x1fff;
  if (dropped > 0x1000 || (dropped === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}
