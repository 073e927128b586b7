// A tensor made from a buffer a kernel of ours filled outside TF.js's kernels (the native engine's
// products, the WebAssembly SIMD kernels), made visible to tf.profile. tf.profile takes its peak from
// the bytes held at the end of each TF.js kernel, so a tensor that lives only between two kernels (a
// widened weight multiplied natively, then freed) would never be seen; each adoption records the bytes
// held then as a profile entry of its own, so a MemoryLedger's peak counts it.
import * as tf from "@tensorflow/tfjs-core";

/** The parts of TF.js's engine state this reads (tfjs-core's EngineState; not in its public types). */
interface ProfilingState {
  profiling: boolean;
  numBytes: number;
  numTensors: number;
  activeProfile: { kernels: Record<string, unknown>[] };
}

/** engine.makeTensorFromTensorInfo(info), recorded in the active tf.profile (if any) under `name`. */
export function adoptTensor<T extends tf.Tensor = tf.Tensor>(info: tf.TensorInfo, name: string): T {
  const engine = tf.engine();
  const state = (engine as unknown as { state: ProfilingState }).state;
  const before = state.numBytes;
  const tensor = engine.makeTensorFromTensorInfo(info) as T;
  if (state.profiling) {
    state.activeProfile.kernels.push({
      name,
      bytesAdded: state.numBytes - before,
      totalBytesSnapshot: state.numBytes,
      tensorsAdded: 1,
      totalTensorsSnapshot: state.numTensors,
      inputShapes: [],
      outputShapes: [tensor.shape],
      kernelTimeMs: 0,
      extraInfo: "",
    });
  }
  return tensor;
}
