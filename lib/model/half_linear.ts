// A frozen 16-bit base Linear, as PEFT's LoRA runs on a CPU with torch_dtype=bfloat16: the [out, in]
// weight is stored as bfloat16 (or float16) bits on the host, 2 bytes per parameter, and widened to
// float32 for each product (TF.js computes in float32 only), exactly: every 16-bit value is a float32.
// The float32 weight lives only while the forward runs and is rebuilt in the backward for the input
// gradient, as QuantizedLinear's dequantized weight is.
import * as tf from "@tensorflow/tfjs-core";
import { TensorError, expected } from "../errors.js";
import { bfloat16ToFloat32, float16ToFloat32, float32ToBfloat16, float32ToFloat16 } from "../io/half_precision.js";
import type { MemoryItem } from "../memory/types.js";
import { customOp } from "../ops/custom_op.js";
import { productNN } from "../ops/matmul.js";
import type { Linear } from "./linear.js";
import { widenBfloat16ToWasmTensor } from "../ops/widen_bf16.js";
import { bf16DotProduct, canBf16DotProduct } from "../ops/bf16_dot.js";

/** The 16-bit storage types of a base weight. */
export type HalfDtype = "bf16" | "f16";

/** A Linear whose [out, in] weight is stored in 16 bits; it has no trainable variables. */
export class HalfLinear implements Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly name: string;

  /** `bits`: the [out, in] weight's 16-bit patterns, row-major. */
  constructor(
    readonly bits: Uint16Array,
    readonly shape: readonly [number, number],
    readonly dtype: HalfDtype,
    options: { name: string },
  ) {
    [this.outFeatures, this.inFeatures] = shape;
    this.name = options.name;
    if (bits.length !== shape[0] * shape[1]) throw new TensorError("HalfLinear", expected(`${shape[0]} x ${shape[1]} = ${shape[0] * shape[1]} values`, `${bits.length}`, `Layer "${options.name}".`));
  }

  /** Rounds a float32 [out, in] weight to `dtype` (nearest even, as torch's .to()). */
  static fromFloat32(weight: Float32Array, shape: readonly [number, number], dtype: HalfDtype, options: { name: string }): HalfLinear {
    return new HalfLinear(dtype === "bf16" ? float32ToBfloat16(weight) : float32ToFloat16(weight), shape, dtype, options);
  }

  /** x: [N, in] -> [N, out]; gradient flows to x only. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    if (x.rank !== 2 || x.shape[1] !== this.inFeatures) {
      throw new TensorError(`HalfLinear(${this.name}).apply`, expected(`x of shape [N, ${this.inFeatures}]`, `[${x.shape.join(", ")}]`));
    }
    return customOp<[tf.Tensor2D], tf.Tensor2D>({
      forward: (input) => {
        // One bfloat16 row (a generated token): the fused kernel reads the 16-bit weight once.
        if (input.shape[0] === 1 && this.dtype === "bf16" && canBf16DotProduct(this.inFeatures)) return bf16DotProduct(input, this.bits, [this.outFeatures, this.inFeatures]);
        return productNN(input, this.denseWeight(), false, true); // [N, in] x [out, in]^T -> [N, out]; the widened weight is freed with the tidy
      },
      backward: (dy) => productNN(dy, this.denseWeight(), false, false), // [N, out] x [out, in] -> [N, in]; widened again, not kept
    })(x);
  }

  /** Nothing: the 16-bit base is frozen. */
  trainableVariables(): tf.Variable[] {
    return [];
  }

  /** The weight widened to a float32 [out, in] tensor (a new tensor the caller disposes). */
  denseWeight(): tf.Tensor2D {
    const shape: [number, number] = [this.outFeatures, this.inFeatures];
    const inHeap = this.dtype === "bf16" ? (widenBfloat16ToWasmTensor(this.bits, shape) as tf.Tensor2D | null) : null;
    return inHeap ?? tf.tensor2d(this.dtype === "bf16" ? bfloat16ToFloat32(this.bits) : float16ToFloat32(this.bits), shape);
  }

  /** The 16-bit weight, 2 bytes per parameter, on the host. */
  memoryItems(): MemoryItem[] {
    return [{ category: "base_16bit", bytes: this.bits.byteLength, owner: this.name, onBackend: false, location: "host" }];
  }

  dispose(): void {}
}
