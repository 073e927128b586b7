// `tf` as qlora-lab offers it: every export of @tensorflow/tfjs-core, and tfjs-core's chained tensor
// methods (t.square().add(1).sum(), x.reshape([2, 3]).transpose()) as @tensorflow/tfjs has them.
// tfjs-core alone lacks the methods in Node: its ES build registers them in files Node cannot load
// (extensionless imports), and its CommonJS build, the one Node loads, leaves them out. They are
// defined here as tfjs-core's src/public/chained_ops defines them (most are the op of the same name
// with the tensor as its first argument) and installed by installChainedMethods, which installRuntime
// calls: importing this file changes nothing. Their types are tfjs-core's own declarations.
import * as tf from "@tensorflow/tfjs-core";
import type {} from "@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js";

export * from "@tensorflow/tfjs-core";

/** Methods t.name(...args) = tf.name(t, ...args). */
const SAME_NAME_OPS = [
  "abs", "acos", "acosh", "add", "all", "any", "argMax", "argMin", "asin", "asinh", "atan", "atan2", "atanh", "avgPool",
  "batchNorm", "batchToSpaceND", "broadcastTo", "cast", "ceil", "clipByValue", "conv1d", "conv2d", "conv2dTranspose", "cos",
  "cosh", "cumprod", "cumsum", "depthToSpace", "depthwiseConv2d", "dilation2d", "div", "divNoNan", "dot", "elu", "equal",
  "erf", "euclideanNorm", "exp", "expandDims", "expm1", "fft", "floor", "floorDiv", "gather", "greater", "greaterEqual",
  "ifft", "irfft", "isFinite", "isInf", "isNaN", "leakyRelu", "less", "lessEqual", "localResponseNormalization", "log",
  "log1p", "logSigmoid", "logSoftmax", "logSumExp", "logicalAnd", "logicalNot", "logicalOr", "logicalXor", "matMul", "max",
  "maxPool", "maximum", "mean", "min", "minimum", "mirrorPad", "mod", "mul", "neg", "norm", "notEqual", "oneHot", "onesLike",
  "pad", "pool", "pow", "prelu", "prod", "reciprocal", "relu", "relu6", "reshape", "reverse", "rfft", "round", "rsqrt", "selu",
  "separableConv2d", "sigmoid", "sign", "sin", "sinh", "slice", "softmax", "softplus", "spaceToBatchND", "split", "sqrt",
  "square", "squaredDifference", "squeeze", "step", "stridedSlice", "sub", "sum", "tan", "tanh", "tile", "topk", "transpose",
  "unique", "unsortedSegmentSum", "unstack", "zerosLike",
] as const;

type Method = (this: tf.Tensor, ...args: never[]) => unknown;

/** The methods that are not simply tf.name(t, ...args). */
const OTHER_METHODS: Record<string, Method> = {
  as1D(this: tf.Tensor) {
    return tf.reshape(this, [this.size]);
  },
  as2D(this: tf.Tensor, rows: number, columns: number) {
    return tf.reshape(this, [rows, columns]);
  },
  as3D(this: tf.Tensor, rows: number, columns: number, depth: number) {
    return tf.reshape(this, [rows, columns, depth]);
  },
  as4D(this: tf.Tensor, rows: number, columns: number, depth: number, depth2: number) {
    return tf.reshape(this, [rows, columns, depth, depth2]);
  },
  as5D(this: tf.Tensor, rows: number, columns: number, depth: number, depth2: number, depth3: number) {
    return tf.reshape(this, [rows, columns, depth, depth2, depth3]);
  },
  asScalar(this: tf.Tensor) {
    tf.util.assert(this.size === 1, () => "The array must have only 1 element.");
    return tf.reshape(this, []);
  },
  flatten(this: tf.Tensor) {
    return tf.reshape(this, [this.size]);
  },
  reshapeAs(this: tf.Tensor, x: tf.Tensor) {
    return tf.reshape(this, x.shape);
  },
  asType(this: tf.Tensor, dtype: tf.DataType) {
    return tf.cast(this, dtype);
  },
  toBool(this: tf.Tensor) {
    return tf.cast(this, "bool");
  },
  toFloat(this: tf.Tensor) {
    return tf.cast(this, "float32");
  },
  toInt(this: tf.Tensor) {
    return tf.cast(this, "int32");
  },
  concat(this: tf.Tensor, x: tf.Tensor | tf.Tensor[], axis?: number) {
    return tf.concat([this, ...(x instanceof tf.Tensor ? [x] : x)], axis);
  },
  stack(this: tf.Tensor, x: tf.Tensor | tf.Tensor[], axis?: number) {
    return tf.stack([this, ...(x instanceof tf.Tensor ? [x] : x)], axis);
  },
  where(this: tf.Tensor, condition: tf.Tensor, x: tf.Tensor) {
    return tf.where(condition, this, x);
  },
  resizeBilinear(this: tf.Tensor, size: [number, number], alignCorners?: boolean, halfPixelCenters?: boolean) {
    return tf.image.resizeBilinear(this as tf.Tensor3D, size, alignCorners, halfPixelCenters);
  },
  resizeNearestNeighbor(this: tf.Tensor, size: [number, number], alignCorners?: boolean, halfPixelCenters?: boolean) {
    return tf.image.resizeNearestNeighbor(this as tf.Tensor3D, size, alignCorners, halfPixelCenters);
  },
};

/** Adds the chained methods to tf.Tensor.prototype where they are missing (a method already there is kept); returns how many it added. */
export function installChainedMethods(): number {
  const prototype = tf.Tensor.prototype as unknown as Record<string, unknown>;
  let added = 0;
  const define = (name: string, method: Method) => {
    if (name in prototype) return;
    added++;
    prototype[name] = function (this: tf.Tensor, ...args: never[]) {
      this.throwIfDisposed();
      return method.apply(this, args);
    };
  };
  const ops = tf as unknown as Record<string, (x: tf.Tensor, ...args: unknown[]) => unknown>;
  for (const name of SAME_NAME_OPS) {
    const op = ops[name]!;
    define(name, function (this: tf.Tensor, ...args: unknown[]) {
      return op(this, ...args);
    });
  }
  for (const [name, method] of Object.entries(OTHER_METHODS)) define(name, method);
  return added;
}
