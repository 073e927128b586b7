// A frozen 4-bit base Linear (QLoRA paper section 3): y = x dequant(W)^T. The dequantized weight
// lives only while the forward runs and is rebuilt in the backward for the input gradient.
import * as tf from "@tensorflow/tfjs-core";
import { TensorError, expected } from "../errors.js";
import type { MemoryItem } from "../memory/types.js";
import { customOp, customOpFootprint } from "../ops/custom_op.js";
import type { Timeline, Traced } from "../ops/footprint.js";
import type { Linear } from "./linear.js";
import { productFootprint, productNN } from "../ops/matmul.js";
import type { QuantizedTensor } from "../quant/quantized_tensor.js";
import { canDotProduct, dotProduct4bit, type DotWeight } from "../quant/dequant_dot_simd.js";

/** A Linear whose [out, in] weight is a {@link QuantizedTensor}; it has no trainable variables. */
export class QuantizedLinear implements Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly name: string;

  constructor(
    readonly weight: QuantizedTensor,
    options: { name: string },
  ) {
    if (weight.shape.length !== 2) throw new TensorError("QuantizedLinear", expected("a 2-D [out, in] weight", `shape [${weight.shape.join(", ")}]`, `Layer "${options.name}".`));
    [this.outFeatures, this.inFeatures] = weight.shape as [number, number];
    this.name = options.name;
  }

  /** x: [N, in] -> [N, out]; gradient flows to x only. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    if (x.rank !== 2 || x.shape[1] !== this.inFeatures) {
      throw new TensorError(`QuantizedLinear(${this.name}).apply`, expected(`x of shape [N, ${this.inFeatures}]`, `[${x.shape.join(", ")}]`));
    }
    // Both products take the [out, in] weight as it is (NN products): wasm's transposed matMul is slow.
    return customOp<[tf.Tensor2D], tf.Tensor2D>({
      forward: (input) => {
        // One row (a generated token): the fused kernel reads the 4-bit codes once (2x faster, bench/products.ts).
        const fused = input.shape[0] === 1 ? this.dotWeight() : null;
        if (fused) return dotProduct4bit(input, fused);
        return productNN(input, this.weight.dequantize() as tf.Tensor2D, false, true); // [N, in] x [out, in]^T -> [N, out]; the weight is freed with the tidy
      },
      backward: (dy) => productNN(dy, this.weight.dequantize() as tf.Tensor2D, false, false), // [N, out] x [out, in] -> [N, in]; dequantized again, not kept
    })(x);
  }

  /** The weight as the fused one-row kernel reads it, where that kernel runs here; else null. */
  private dotWeight(): DotWeight | null {
    const w = this.weight;
    const candidate = { packed: w.packed, absmax: w.scales(), code: w.code, blocksize: w.blocksize, shape: [this.outFeatures, this.inFeatures] as const };
    return canDotProduct(candidate) ? candidate : null;
  }

  /** Nothing: the 4-bit base is frozen. */
  trainableVariables(): tf.Variable[] {
    return [];
  }

  /** The dequantized [out, in] weight (a new tensor the caller disposes). */
  denseWeight(): tf.Tensor2D {
    return this.weight.dequantize() as tf.Tensor2D;
  }

  /** The packed codes and quantization constants, owned by this layer's name. */
  memoryItems(): MemoryItem[] {
    return this.weight.memoryItems(this.name);
  }

  dispose(): void {
    this.weight.dispose();
  }
}

/** QuantizedLinear.apply's footprint (ops/footprint.ts) for x: [N, in], N > 1 (training): the weight dequantized in the forward's tidy and again in the gradient's; nothing saved. */
export function quantizedLinearFootprint(t: Timeline, x: Traced, rows: number, inFeatures: number, outFeatures: number): Traced {
  const forward = () => {
    t.alloc(outFeatures * inFeatures); // the dequantized weight [out, in]
    return productFootprint(t, rows, inFeatures, outFeatures, false, true);
  };
  const backward = () =>
    t.tidy(() => {
      t.alloc(outFeatures * inFeatures); // dequantized again
      return [productFootprint(t, rows, outFeatures, inFeatures, false, false)];
    });
  return customOpFootprint(t, [x[1]], t.value(rows * outFeatures, x[1].onPath), forward, [], backward);
}
