// The initialisations computed from a layer's own weight (PiSSA, LoftQ): they give A and B and
// replace the frozen base, kept in the storage it had (float32, 16-bit) or quantized to 4 bits
// when the model is becoming a QLoRA model (toQloraModel passes its quantization settings).
import * as tf from "@tensorflow/tfjs-core";
import { InvalidArgumentError, expected } from "../errors.js";
import { HalfLinear } from "../model/half_linear.js";
import { DenseLinear, type Linear } from "../model/linear.js";
import { QuantizedLinear } from "../model/quantized_linear.js";
import { quantize4bit, type QuantType } from "../quant/index.js";
import { pissaPowerIterations, type LoraConfig } from "./config.js";
import { loftqFactors } from "./loftq.js";
import { pissaFactors } from "./pissa.js";

/** How a new base is stored in 4 bits. */
export interface BaseQuantization {
  quantType: QuantType;
  blocksize: number;
  doubleQuant: boolean;
}

/**
 * The quantizer LoftQ uses on a base that stays dense, as PEFT's loftq_init does with bitsandbytes:
 * NF4, blocks of 64, no double quantization (compress_statistics=False).
 */
export const LOFTQ_PEFT_QUANTIZATION: Readonly<BaseQuantization> = Object.freeze({ quantType: "nf4", blocksize: 64, doubleQuant: false });

/** A and B for one layer and the base that replaces `base`. */
export interface WeightInit {
  values: { a: Float32Array; b: Float32Array };
  base: Linear;
}

/**
 * PiSSA or LoftQ on one layer (`config.init_lora_weights` says which). `quantization`: store the new
 * base in 4 bits (QPiSSA's quantized residual; LoftQ's backbone as it is); without it the residual
 * keeps the base's storage and LoftQ's backbone is dequantized into it, as PEFT leaves it.
 */
export function initFromWeight(config: LoraConfig, base: Linear, path: string, r: number, scaling: number, seed: number, quantization?: BaseQuantization): WeightInit {
  const where = `init_lora_weights ${JSON.stringify(config.init_lora_weights)} (${path})`;
  if (base instanceof QuantizedLinear) {
    throw new InvalidArgumentError(
      where,
      expected("a full-precision base weight", "a 4-bit base", "PiSSA and LoftQ start from W itself: load the model unquantized and call toQloraModel, which quantizes the residual (PiSSA) or builds the backbone (LoftQ)."),
    );
  }
  const { outFeatures, inFeatures } = base;
  const dense = base.denseWeight();
  const weight = dense.dataSync() as Float32Array;
  dense.dispose();
  const storeAs = (values: Float32Array): Linear => {
    if (quantization) return new QuantizedLinear(quantize4bit(values, [outFeatures, inFeatures], { ...quantization, name: path }), { name: path });
    if (base instanceof HalfLinear) return HalfLinear.fromFloat32(values, [outFeatures, inFeatures], base.dtype, { name: path });
    return new DenseLinear(tf.tensor2d(values, [outFeatures, inFeatures]), { name: path });
  };
  if (config.init_lora_weights === "loftq") {
    const settings = quantization ?? LOFTQ_PEFT_QUANTIZATION;
    const iterations = config.loftq_config.loftq_iter ?? 1;
    const { a, b, quantized } = loftqFactors(weight, outFeatures, inFeatures, r, iterations, (values) => quantize4bit(values, [outFeatures, inFeatures], { ...settings, name: path }));
    if (quantization) return { values: { a, b }, base: new QuantizedLinear(quantized, { name: path }) };
    const backbone = quantized.dequantizeToArray();
    quantized.dispose();
    return { values: { a, b }, base: storeAs(backbone) };
  }
  const iterations = pissaPowerIterations(config.init_lora_weights);
  if (iterations === undefined) throw new InvalidArgumentError("initFromWeight", expected('init_lora_weights "pissa", "pissa_niter_N" or "loftq"', JSON.stringify(config.init_lora_weights)));
  const { a, b, residual } = pissaFactors(weight, outFeatures, inFeatures, r, scaling, iterations, seed);
  return { values: { a, b }, base: storeAs(residual) };
}
