// float32 -> bfloat16 / float16 against PyTorch's own conversion, bit for bit: edge cases (zeros,
// subnormals of both formats, the rounding midpoints, the overflow thresholds, infinities, NaNs with
// payloads), 200,000 random bit patterns, and every weight of a real checkpoint; then back to float32.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { bfloat16ToFloat32, float16ToFloat32, float32ToBfloat16, float32ToFloat16 } from "../../../lib/io/half_precision.js";
import { SafetensorsFile } from "../../../lib/io/safetensors.js";
import { jupyterPython, skipUnlessPythonModules } from "../../helpers/jupyter.js";

const checkpoint = fileURLToPath(new URL("../../../../shared/models/stories260K-hf/model.safetensors", import.meta.url));

const EDGE_BITS = [
  0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x00800000, // zeros, float32 subnormals, smallest normal
  0x33000000, 0x33000001, 0x337fffff, 0x33800000, 0x33c00000, 0x34000000, // around float16's smallest subnormal 2^-24 and its half
  0x387fc000, 0x387fe000, 0x387fffff, 0x38800000, 0x38801000, 0x38802000, // float16's subnormal / normal boundary and midpoints
  0x3f800000, 0x3f801000, 0x3f802000, 0x3f803000, 0x3f808000, 0x3f818000, 0x3f807fff, 0x3f808001, // ties to even, both formats
  0x477fe000, 0x477fefff, 0x477ff000, 0x477fffff, 0x47800000, // float16's 65504, the 65520 midpoint, 65536
  0x7f7f7fff, 0x7f7f8000, 0x7f7fffff, 0x7f800000, 0xff800000, // bfloat16's largest finite and its rounding into infinity
  0x7fc00000, 0xffc00000, 0x7f800001, 0x7fffffff, 0xffffffff, 0x7fa00000, // NaNs: quiet, negative, signalling, with payloads
];

function randomBits(count: number, seed: number): Uint32Array {
  const out = new Uint32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state >>> 0;
  }
  return out;
}

/** PyTorch's bfloat16 and float16 bits of the float32 values whose bits are given. */
function torchConversion(bits: Uint32Array): { bf16: Uint16Array; f16: Uint16Array } {
  const run = spawnSync(jupyterPython, [fileURLToPath(new URL("./half_precision_reference.py", import.meta.url))], { input: Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength), maxBuffer: 1 << 28 });
  assert.equal(run.status, 0, String(run.stderr));
  const out = new Uint16Array(run.stdout.buffer.slice(run.stdout.byteOffset, run.stdout.byteOffset + run.stdout.byteLength));
  return { bf16: out.slice(0, bits.length), f16: out.slice(bits.length) };
}

function firstDifference(ours: Uint16Array, theirs: Uint16Array, inputs: Uint32Array): string | undefined {
  for (let i = 0; i < ours.length; i++) {
    if (ours[i] !== theirs[i]) return `input 0x${inputs[i]!.toString(16).padStart(8, "0")}: ours 0x${ours[i]!.toString(16)}, PyTorch 0x${theirs[i]!.toString(16)}`;
  }
  return undefined;
}

test("float32 -> bfloat16 and float16 equal PyTorch's bit for bit: edge cases, random patterns, a real checkpoint", { skip: skipUnlessPythonModules("torch", "numpy"), timeout: 120_000 }, () => {
  const file = SafetensorsFile.open(checkpoint);
  const weights = file.names().map((name) => file.readFloat32(name));
  const total = EDGE_BITS.length + 200_000 + weights.reduce((n, w) => n + w.length, 0);
  const bits = new Uint32Array(total);
  bits.set(EDGE_BITS);
  bits.set(randomBits(200_000, 0x9e3779b9), EDGE_BITS.length);
  let at = EDGE_BITS.length + 200_000;
  for (const w of weights) {
    bits.set(new Uint32Array(w.buffer, w.byteOffset, w.length), at);
    at += w.length;
  }
  const values = new Float32Array(bits.buffer);
  const torch = torchConversion(bits);
  const bf16 = float32ToBfloat16(values);
  const f16 = float32ToFloat16(values);
  assert.equal(firstDifference(bf16, torch.bf16, bits), undefined, "bfloat16");
  assert.equal(firstDifference(f16, torch.f16, bits), undefined, "float16");
});

test("16-bit values convert back to float32 exactly, and a round trip of a 16-bit value is the identity", () => {
  const everyBf16 = new Uint16Array(65536).map((_, i) => i);
  const everyF16 = everyBf16.slice();
  const bfBack = float32ToBfloat16(bfloat16ToFloat32(everyBf16));
  const fBack = float32ToFloat16(float16ToFloat32(everyF16));
  for (let h = 0; h < 65536; h++) {
    const bfNaN = (h & 0x7fff) > 0x7f80;
    const fNaN = (h & 0x7fff) > 0x7c00;
    if (!bfNaN) assert.equal(bfBack[h], h, `bfloat16 0x${h.toString(16)}`);
    if (!fNaN) assert.equal(fBack[h], h, `float16 0x${h.toString(16)}`);
  }
  assert.deepEqual([...float16ToFloat32(new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7bff, 0x7c00]))], [1, -2, 2 ** -24, 65504, Infinity]);
});
