// Merging adapters into their base (PEFT merge_and_unload). A float32 base merges exactly; a 16-bit
// base merges and rounds the sum to its own 16 bits (as PEFT's merge into a bfloat16 model does, here
// with the loss measured); a 4-bit base offers three explicit strategies and never requantizes
// silently (QLoRA paper; PEFT's bnb merge).
import * as tf from "@tensorflow/tfjs-core";
import { InvalidArgumentError, expected } from "../errors.js";
import { DenseLinear } from "../model/linear.js";
import { productNN } from "../ops/matmul.js";
import { HalfLinear } from "../model/half_linear.js";
import { QuantizedLinear } from "../model/quantized_linear.js";
import { QuantizedTensor, quantize4bit, seededNormal } from "../quant/index.js";
import { loraDelta, mergedWeight } from "./delta.js";
import { LoraLinear } from "./lora_linear.js";
import type { AdaptableModel, LoraModel } from "./lora_model.js";

/**
 * How an adapter meets its base:
 * "separate" keeps it as its own branch (the default and the exact reference);
 * "float32" merges into a float32 copy of the (dequantized) base: exact to float rounding, 8x the memory of 4 bits;
 * "requantize" merges and stores the sum again in the base's own precision (4 bits, or a 16-bit base's
 * bfloat16 / float16): lossy, reported per layer.
 */
export type MergeStrategy = "separate" | "float32" | "requantize";

/** Options of {@link mergeAndUnload}. */
export interface MergeOptions {
  /** Required when any base is 4-bit; a float32 base defaults to "float32" (PEFT's exact merge), a 16-bit one to "requantize" (PEFT's merge in the model's dtype). */
  strategy?: MergeStrategy;
  /** Rows of the seeded N(0, 1) probe inputs used to measure output error (default 64). */
  probeRows?: number;
  /** Seed of the probe inputs (default 0). */
  probeSeed?: number;
}

/** What requantizing W_hat + dW keeps of dW (W_hat = the dequantized 4-bit base, or the widened 16-bit one). */
export interface RequantizeMetrics {
  /** ||dW||_F / ||W_hat||_F. */
  rho: number;
  /**
   * Fraction of the delta that survives: <dW_eff, dW> / ||dW||^2 with dW_eff = deq(q(W_hat + dW)) - W_hat,
   * the projection of the change requantization actually made onto the intended change (1 = all kept, 0 = all lost).
   */
  survival: number;
  /** ||dW_eff||_F / ||dW||_F (how big the realised change is, whatever its direction). */
  normRatio: number;
  /** ||dW_eff - dW||_F / ||dW||_F: the error the merge makes in the delta. */
  deltaError: number;
  /** ||X W_q^T - X (W_hat + dW)^T||_F / ||X (W_hat + dW)^T||_F on probe inputs X: relative output error versus the separate adapter. */
  outputError: number;
  /** ||X (dW_eff - dW)^T||_F / ||X dW^T||_F: the share of the adapter's effect on outputs that is wrong after the merge. */
  deltaOutputError: number;
}

/** A base linear's precision as merge reports name it. */
export type BaseKind = "float32" | "16-bit" | "4-bit";

const baseKind = (layer: LoraLinear): BaseKind => (layer.base instanceof DenseLinear ? "float32" : layer.base instanceof HalfLinear ? "16-bit" : "4-bit");

/** One merged layer. */
export interface MergeLayerReport {
  module: string;
  /** The base the adapter met. */
  base: BaseKind;
  strategy: MergeStrategy;
  /** Set for "requantize"; for "float32" and "separate" the merge is exact to float rounding. */
  requantize?: RequantizeMetrics;
}

/** The answer of {@link mergeAndUnload}. */
export interface MergeResult<M> {
  /** The model (the same object, changed in place): plain for "float32"/"requantize", still with LoRA layers for "separate". */
  model: M;
  strategy: MergeStrategy;
  /** The adapter that was merged. */
  adapter: string;
  layers: MergeLayerReport[];
}

/**
 * Merges the active adapter into the base of every adapted linear and removes the LoRA layers
 * (PEFT's merge_and_unload). Other adapters are discarded. A 4-bit base needs an explicit strategy.
 */
export function mergeAndUnload<M extends AdaptableModel>(lora: LoraModel<M>, options: MergeOptions = {}): MergeResult<M> {
  const where = "mergeAndUnload";
  const name = lora.activeAdapter;
  if (name === null) throw new InvalidArgumentError(where, expected("an active adapter", "none", "Call setAdapter(name) first."));
  if (lora.adaptersDisabled) throw new InvalidArgumentError(where, expected("enabled adapters", "adapters disabled", "Call enableAdapters() first, or unload() to drop the adapters without merging."));
  const layers = lora.loraLayers();
  const modules = lora.adaptedModules(name);
  const quantized = modules.filter((p) => baseKind(layers.get(p)!) === "4-bit");
  const kinds = new Set(modules.map((p) => baseKind(layers.get(p)!)));
  const strategy = options.strategy ?? (quantized.length ? undefined : kinds.has("16-bit") && !kinds.has("float32") ? "requantize" : "float32");
  if (strategy === undefined) {
    throw new InvalidArgumentError(
      where,
      expected('an explicit strategy for a 4-bit base: "separate", "float32" or "requantize"', "none", `${quantized.length} adapted layer(s) have a 4-bit base (e.g. "${quantized[0]}"). "separate" keeps the adapter (exact), "float32" merges into a float32 copy of the dequantized base (exact, 8x the memory), "requantize" merges and re-quantizes to 4 bits (lossy; the result reports what survives).`),
    );
  }
  if (strategy !== "separate" && strategy !== "float32" && strategy !== "requantize") throw new InvalidArgumentError(where, expected('strategy "separate", "float32" or "requantize"', JSON.stringify(strategy)));
  if (strategy === "requantize" && kinds.has("float32")) {
    const dense = modules.find((p) => baseKind(layers.get(p)!) === "float32");
    throw new InvalidArgumentError(where, expected('4-bit or 16-bit bases for strategy "requantize"', `a float32 base at "${dense}"`, 'Use "float32" for float32 bases.'));
  }
  lora.unmergeAdapter();
  const reports: MergeLayerReport[] = [];
  for (const path of modules) {
    const layer = layers.get(path)!;
    const base = baseKind(layer);
    if (strategy === "separate") {
      reports.push({ module: path, base, strategy });
      continue;
    }
    const adapter = layer.adapters.get(name)!;
    if (strategy === "float32") {
      const merged = mergedWeight(layer.base, adapter); // [out, in]
      layer.replaceBase(new DenseLinear(merged, { name: path })).dispose();
      reports.push({ module: path, base, strategy });
      continue;
    }
    const deltaValues = readAndDispose(tf.tidy(() => loraDelta(adapter)));
    const probe = { probeRows: options.probeRows, probeSeed: options.probeSeed, name: path };
    if (layer.base instanceof HalfLinear) {
      const { merged, metrics } = round16Merge(layer.base, deltaValues, probe);
      layer.replaceBase(merged).dispose();
      reports.push({ module: path, base, strategy, requantize: metrics });
    } else {
      const { merged, metrics } = requantizeMerge((layer.base as QuantizedLinear).weight, deltaValues, probe);
      layer.replaceBase(new QuantizedLinear(merged, { name: path })).dispose();
      reports.push({ module: path, base, strategy, requantize: metrics });
    }
  }
  if (strategy !== "separate") lora.unload();
  return { model: lora.model, strategy, adapter: name, layers: reports };
}

/**
 * Quantizes W_hat + dW again with the base's own settings (code book, block size, double
 * quantization; new absmax from scratch, as PEFT's 4-bit merge does) and measures what survives.
 * `delta` is dW [out, in] row-major (from loraDelta).
 */
export function requantizeMerge(base: QuantizedTensor, delta: Float32Array, options: { probeRows?: number; probeSeed?: number; name?: string } = {}): { merged: QuantizedTensor; metrics: RequantizeMetrics } {
  if (base.shape.length !== 2 || delta.length !== base.size) throw new InvalidArgumentError("requantizeMerge", expected(`a delta of ${base.size} values for base [${base.shape.join(", ")}]`, delta.length));
  const [out, inF] = base.shape as [number, number];
  const wHat = base.dequantizeToArray(); // [out, in], one layer's transient float32 copy
  const sum = new Float32Array(wHat.length);
  for (let i = 0; i < sum.length; i++) sum[i] = wHat[i]! + delta[i]!;
  const merged = quantize4bit(sum, [out, inF], { code: base.code, blocksize: base.blocksize, doubleQuant: base.doubleQuant, name: options.name ?? base.name });
  const wNew = merged.dequantizeToArray();
  return { merged, metrics: mergeMetrics(wHat, delta, sum, wNew, [out, inF], options) };
}

/** W_hat + dW rounded to the 16-bit base's own dtype (W_hat = the widened base), and what survives. */
export function round16Merge(base: HalfLinear, delta: Float32Array, options: { probeRows?: number; probeSeed?: number; name?: string } = {}): { merged: HalfLinear; metrics: RequantizeMetrics } {
  const shape = [base.outFeatures, base.inFeatures] as const;
  if (delta.length !== shape[0] * shape[1]) throw new InvalidArgumentError("round16Merge", expected(`a delta of ${shape[0] * shape[1]} values for base [${shape.join(", ")}]`, delta.length));
  const widen = (layer: HalfLinear) => readAndDispose(tf.tidy(() => layer.denseWeight())); // read outside tidy: tidy walks a returned typed array element by element
  const wHat = widen(base); // [out, in], one layer's transient float32 copy
  const sum = new Float32Array(wHat.length);
  for (let i = 0; i < sum.length; i++) sum[i] = wHat[i]! + delta[i]!;
  const merged = HalfLinear.fromFloat32(sum, shape, base.dtype, { name: options.name ?? base.name });
  return { merged, metrics: mergeMetrics(wHat, delta, sum, widen(merged), shape, options) };
}

/** A tensor's values as a Float32Array (a copy), the tensor disposed. */
function readAndDispose(t: tf.Tensor): Float32Array {
  const values = t.dataSync() as Float32Array;
  t.dispose();
  return values;
}

/** What storing W_hat + dW as wNew kept of dW, in weights and on seeded N(0, 1) probe inputs. */
function mergeMetrics(wHat: Float32Array, delta: Float32Array, sum: Float32Array, wNew: Float32Array, [out, inF]: readonly [number, number], options: { probeRows?: number; probeSeed?: number }): RequantizeMetrics {
  let dd = 0, ww = 0, ee = 0, de = 0, errSq = 0;
  for (let i = 0; i < wHat.length; i++) {
    const d = delta[i]!;
    const eff = wNew[i]! - wHat[i]!;
    dd += d * d;
    ww += wHat[i]! * wHat[i]!;
    ee += eff * eff;
    de += eff * d;
    errSq += (eff - d) * (eff - d);
  }
  const [outputError, deltaOutputError] = tf.tidy(() => {
    const rows = options.probeRows ?? 64;
    const x = tf.tensor2d(seededNormal(rows * inF, options.probeSeed ?? 0), [rows, inF]); // [P, in]
    const exactW = tf.tensor2d(sum, [out, inF]);
    const newW = tf.tensor2d(wNew, [out, inF]);
    const dW = tf.tensor2d(delta, [out, inF]);
    const yExact = productNN(x, exactW, false, true); // [P, out], on the native engine where it runs
    const yDelta = productNN(x, dW, false, true);
    const err = tf.sub(productNN(x, newW, false, true), yExact);
    const norm = (t: tf.Tensor) => Math.sqrt(tf.sum(tf.square(t)).dataSync()[0]!);
    const e = norm(err);
    return [e / norm(yExact), e / norm(yDelta)];
  });
  const deltaNorm = Math.sqrt(dd);
  return {
    rho: deltaNorm / Math.sqrt(ww),
    survival: dd > 0 ? de / dd : 1,
    normRatio: dd > 0 ? Math.sqrt(ee) / deltaNorm : 1,
    deltaError: dd > 0 ? Math.sqrt(errSq) / deltaNorm : 0,
    outputError: outputError!,
    deltaOutputError: dd > 0 ? deltaOutputError! : 0,
  };
}
