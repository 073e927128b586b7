// Seeded standard-normal samples for reproducible experiments and tests: xoshiro128** (Blackman &
// Vigna) for uniform bits; Box-Muller on 53-bit uniforms, or a ziggurat where speed matters.

/** n samples of N(mean, std^2) as float32, the same for the same seed on every platform. */
export function seededNormal(n: number, seed: number, options: { mean?: number; std?: number; out?: Float32Array } = {}): Float32Array {
  const mean = options.mean ?? 0;
  const std = options.std ?? 1;
  const next = xoshiro128ss(seed);
  const uniform = () => ((next() >>> 5) * 67108864 + (next() >>> 6) + 0.5) / 9007199254740992; // (0, 1)
  const out = options.out ? options.out.subarray(0, n) : new Float32Array(n); // a caller's scratch buffer, reused
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const theta = 2 * Math.PI * uniform();
    out[i] = mean + std * r * Math.cos(theta);
    if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(theta);
  }
  return out;
}

/**
 * n samples of N(0, std^2) by Marsaglia and Tsang's ziggurat (128 layers): a different stream from
 * {@link seededNormal} for the same seed and several times as fast, since 99 % of samples cost one
 * random word and a comparison, no logarithm. For bulk draws where speed matters more than 53-bit
 * uniforms: random models' weights. Each word's low 7 bits pick the layer and its high 25 bits the
 * value, so the two are independent (Doornik 2005 on the original's shared bits).
 */
export function seededNormalZiggurat(n: number, seed: number, options: { std?: number; out?: Float32Array } = {}): Float32Array {
  const std = options.std ?? 1;
  const state = xoshiroState(seed);
  const { k, w, f } = zigguratTables();
  const uniform = () => ((xoshiroNext(state) >>> 0) + 0.5) / 4294967296; // (0, 1)
  const out = options.out ? options.out.subarray(0, n) : new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let word = xoshiroNext(state);
    let layer = word & 127;
    let j = word >> 7; // signed 25-bit
    let x: number;
    for (;;) {
      x = j * w[layer]!;
      if (Math.abs(j) < k[layer]!) break; // inside the layer's rectangle: 99 % of draws stop here
      if (layer === 0) { // the tail beyond R, by Marsaglia's exponential method
        let tail: number, y: number;
        do {
          tail = -Math.log(uniform()) / ZIGGURAT_R;
          y = -Math.log(uniform());
        } while (y + y < tail * tail);
        x = j > 0 ? ZIGGURAT_R + tail : -ZIGGURAT_R - tail;
        break;
      }
      if (f[layer]! + uniform() * (f[layer - 1]! - f[layer]!) < Math.exp(-0.5 * x * x)) break; // under the curve in the wedge
      word = xoshiroNext(state);
      layer = word & 127;
      j = word >> 7;
    }
    out[i] = std * x;
  }
  return out;
}

const ZIGGURAT_R = 3.442619855899; // the rightmost layer's edge for 128 layers
const ZIGGURAT_AREA = 9.91256303526217e-3; // each layer's area

let tables: { k: Int32Array; w: Float64Array; f: Float64Array } | undefined;

/** The layers' acceptance bounds k (on 25-bit values), widths w and densities f, as Marsaglia and Tsang (2000). */
function zigguratTables(): { k: Int32Array; w: Float64Array; f: Float64Array } {
  if (tables) return tables;
  const m = 2 ** 24; // |j| < 2^24
  const k = new Int32Array(128), w = new Float64Array(128), f = new Float64Array(128);
  let d = ZIGGURAT_R, t = d;
  const q = ZIGGURAT_AREA / Math.exp(-0.5 * d * d);
  k[0] = Math.floor((d / q) * m);
  k[1] = 0;
  w[0] = q / m;
  w[127] = d / m;
  f[0] = 1;
  f[127] = Math.exp(-0.5 * d * d);
  for (let i = 126; i >= 1; i--) {
    d = Math.sqrt(-2 * Math.log(ZIGGURAT_AREA / d + Math.exp(-0.5 * d * d)));
    k[i + 1] = Math.floor((d / t) * m);
    t = d;
    f[i] = Math.exp(-0.5 * d * d);
    w[i] = d / m;
  }
  return (tables = { k, w, f });
}

/** A uint32 generator (xoshiro128**) seeded through splitmix32 so nearby seeds give unrelated streams. */
export function xoshiro128ss(seed: number): () => number {
  const state = xoshiroState(seed);
  return () => xoshiroNext(state) >>> 0;
}

/** xoshiro128**'s four state words from splitmix32(seed). Kept in a typed array, not closure variables, so the step below stays in registers and L1. */
function xoshiroState(seed: number): Int32Array {
  let x = seed >>> 0;
  const state = new Int32Array(4);
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    state[i] = z ^ (z >>> 16);
  }
  return state;
}

/** One xoshiro128** step: the next word as a signed int32 (`>>> 0` makes it the uint32). */
function xoshiroNext(s: Int32Array): number {
  const a = s[0]!, b = s[1]!, c = s[2]!, d = s[3]!;
  const result = Math.imul(rotl(Math.imul(b, 5), 7), 9);
  const c1 = c ^ a;
  const d1 = d ^ b;
  s[1] = b ^ c1;
  s[0] = a ^ d1;
  s[2] = c1 ^ (b << 9);
  s[3] = rotl(d1, 11);
  return result;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
