// Child of high_heap_addresses.test.ts: the library's kernels on the wasm heap, run once while a
// 2.25 GiB tensor pushes every new allocation past 2 GiB (where a pointer no longer fits a signed
// 32-bit integer) and again at low addresses once it is freed. Prints whether each result is the same.
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";
import { quantize4bit } from "../../../lib/quant/index.js";
import { dotProduct4bit } from "../../../lib/quant/dequant_dot_simd.js";
import { widenBfloat16ToWasmTensor } from "../../../lib/ops/widen_bf16.js";
import { bf16DotProduct } from "../../../lib/ops/bf16_dot.js";
import { productNN } from "../../../lib/ops/matmul.js";
import { activeWasmBackend } from "../../../lib/ops/wasm_heap.js";

await resolveBackend({ env: { QLORA_LAB_BACKEND: "wasm" } });
const [N, K] = [64, 256];
const values = Float32Array.from({ length: N * K }, (_, i) => Math.sin(i * 0.37) * 0.02);
const w = quantize4bit(values, [N, K], { quantType: "nf4", blocksize: 64, doubleQuant: true });
const bits = Uint16Array.from({ length: N * K }, (_, i) => 0x3c00 + (i % 0x300));
const xValues = Float32Array.from({ length: K }, (_, i) => Math.cos(i));

const run = () =>
  tf.tidy(() => {
    const x = tf.tensor2d(xValues, [1, K]);
    const dense = w.dequantize() as tf.Tensor2D;
    const dot = { packed: w.packed, absmax: w.scales(), code: w.code, blocksize: 64, shape: [N, K] as const };
    return {
      dequantize: Array.from(dense.dataSync()),
      dot4: Array.from(dotProduct4bit(x, dot).dataSync()),
      widen: Array.from(widenBfloat16ToWasmTensor(bits, [N, K])!.dataSync()),
      dot16: Array.from(bf16DotProduct(x, bits, [N, K]).dataSync()),
      product: Array.from(productNN(tf.tile(x, [64, 1]) as tf.Tensor2D, dense, false, true).dataSync()),
    };
  });

// A 2.25 GiB tensor first, at the bottom of the heap: what is allocated while it lives lies past 2 GiB.
const filler = tf.zeros([2.25 * 2 ** 28]);
const probe = tf.zeros([4]);
const { backend } = activeWasmBackend()!;
const probeAt = backend.getMemoryOffset(probe.dataId);
const high = run();
tf.dispose([filler, probe]);
const low = run(); // at the bottom again
const same = Object.fromEntries(Object.keys(low).map((k) => [k, JSON.stringify(low[k as keyof typeof low]) === JSON.stringify(high[k as keyof typeof high])]));
console.log(JSON.stringify({ probeAt, same }));
