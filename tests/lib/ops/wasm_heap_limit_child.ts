// Run as a child process by wasm_heap_limit.test.ts (the heap it fills never shrinks, so it gets its
// own process): fills the wasm backend's heap with 1 GiB tensors until an allocation is refused,
// then frees them and checks the backend still computes and allocates. Prints one JSON line.
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../../../lib/backend.js";

await resolveBackend({ force: "wasm" });
const ELEMENTS = 2 ** 28; // 1 GiB of float32
const held: tf.Tensor[] = [];
let refusal: { name: string; message: string } | undefined;
let numBytesBefore = 0;
let numTensorsBefore = 0;
for (let i = 0; i < 8 && !refusal; i++) {
  numBytesBefore = tf.memory().numBytes;
  numTensorsBefore = tf.memory().numTensors;
  try {
    held.push(tf.fill([ELEMENTS], i + 1));
  } catch (error) {
    refusal = { name: (error as Error).name, message: (error as Error).message };
  }
}
const after = { numBytes: tf.memory().numBytes, numTensors: tf.memory().numTensors };
// The tensors made before the refusal kept their values (nothing was written over them).
const intact = held.every((t, i) => t.slice([ELEMENTS - 3], [3]).dataSync().every((v) => v === i + 1));
const tooLarge = (() => {
  try {
    tf.zeros([2 ** 31]); // 8 GiB at once
    return null;
  } catch (error) {
    return (error as Error).message;
  }
})();
tf.dispose(held);
const sum = tf.add(tf.tensor1d([1, 2, 3]), tf.tensor1d([10, 20, 30])).dataSync();
const again = tf.fill([ELEMENTS], 7);
const againOk = again.slice([0], [2]).dataSync().every((v) => v === 7);
again.dispose();
process.stdout.write(`${JSON.stringify({ backend: tf.getBackend(), held: held.length, refusal, numBytesBefore, numTensorsBefore, after, intact, tooLarge, sum: [...sum], againOk })}\n`);
