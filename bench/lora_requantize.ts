// How much of a LoRA delta survives a merge into an NF4 base that is re-quantized (W ~ N(0, 0.02^2),
// 1024x1024, rank-16 delta with ||dW|| = rho ||W||), next to the published figures (PEFT facts).
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../lib/backend.js";
import { quantize4bit, seededNormal } from "../lib/quant/index.js";
import { loraDelta, requantizeMerge } from "../lib/lora/index.js";

const PUBLISHED: Record<string, number> = { "0.01": 0.01, "0.05": 0.28, "0.2": 0.99 };

async function main(): Promise<void> {
  await resolveBackend();
  const n = 1024;
  const q = quantize4bit(seededNormal(n * n, 1, { std: 0.02 }), [n, n], { quantType: "nf4" });
  const wHat = q.dequantizeToArray();
  const wNorm = Math.sqrt(wHat.reduce((s, v) => s + v * v, 0));
  const unit = tf.tidy(() => loraDelta({ loraA: tf.tensor2d(seededNormal(16 * n, 2), [16, n]), loraB: tf.tensor2d(seededNormal(n * 16, 3), [n, 16]), scaling: 1 }).dataSync() as Float32Array);
  const unitNorm = Math.sqrt(unit.reduce((s, v) => s + v * v, 0));
  console.log("rho    survival  published  ratio   ||dW_eff||/||dW||  delta output error  layer output error");
  for (const rho of [0.01, 0.02, 0.05, 0.1, 0.2, 0.5]) {
    const { metrics: m } = requantizeMerge(q, unit.map((v) => (v * rho * wNorm) / unitNorm));
    const pub = PUBLISHED[String(rho)];
    console.log(
      `${rho.toFixed(2).padEnd(6)} ${m.survival.toFixed(4).padStart(8)}  ${pub === undefined ? "     -   " : pub.toFixed(2).padStart(9)}  ${pub === undefined ? "   -  " : (m.survival / pub).toFixed(2).padStart(6)}  ${m.normRatio.toFixed(4).padStart(17)}  ${m.deltaOutputError.toFixed(4).padStart(18)}  ${m.outputError.toFixed(4).padStart(18)}`,
    );
  }
}

main();
