// The bytes of a one-node ONNX model, written by hand in protobuf's wire format (no protobuf library):
// y = op(a) @ op(b) as com.microsoft's FusedMatMul, whose transA / transB attributes let onnxruntime
// hand its GEMM the transposed operand as it lies in memory (a gradient dy w^T or x^T dy needs no
// transposed copy). Every dimension is symbolic, so one model serves every shape of its rank.
// Also y = x @ deq(w)^T as com.microsoft's MatMulBnb4, which reads bitsandbytes' packed 4-bit weight.
// Field numbers are those of onnx.proto (ModelProto, GraphProto, NodeProto, ValueInfoProto, TypeProto).

/** Protobuf wire types used here. */
const VARINT = 0;
const LENGTH_DELIMITED = 2;

/** ONNX's TensorProto.DataType.FLOAT and UINT8, and AttributeProto.AttributeType.INT. */
const ONNX_FLOAT = 1;
const ONNX_UINT8 = 2;
const ATTRIBUTE_INT = 2;

/** ONNX IR version 8 and opset 17: what onnxruntime 1.14 and later read. */
const IR_VERSION = 8;
const ONNX_OPSET = 17;
const MICROSOFT_DOMAIN = "com.microsoft";

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  do {
    let byte = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) byte |= 0x80;
    out.push(byte);
  } while (v > 0);
  return out;
}

const tag = (field: number, wire: number) => varint(field * 8 + wire);
const intField = (field: number, value: number) => [...tag(field, VARINT), ...varint(value)];
const bytesField = (field: number, bytes: number[]) => [...tag(field, LENGTH_DELIMITED), ...varint(bytes.length), ...bytes];
const stringField = (field: number, text: string) => bytesField(field, [...new TextEncoder().encode(text)]);

/** ValueInfoProto: a float (or uint8) tensor `name` whose dimensions are the symbols `dims`. */
function floatTensor(name: string, dims: string[], elementType = ONNX_FLOAT): number[] {
  const shape = dims.flatMap((d) => bytesField(1, stringField(2, d))); // TensorShapeProto.dim { dim_param }
  const tensorType = [...intField(1, elementType), ...bytesField(2, shape)]; // TypeProto.Tensor { elem_type, shape }
  return [...stringField(1, name), ...bytesField(2, bytesField(1, tensorType))]; // { name, type { tensor_type } }
}

/** AttributeProto: an int attribute. */
const intAttribute = (name: string, value: number) => [...stringField(1, name), ...intField(3, value), ...intField(20, ATTRIBUTE_INT)];

/** Names of the model's inputs and output. */
export const PRODUCT_INPUTS = ["a", "b"] as const;
export const PRODUCT_OUTPUT = "y";

/**
 * The model y = op(a) @ op(b) for float tensors of `rank` 2 ([m, k] x [k, n]) or 3 (a batch of such
 * matrices, [G, ., .] each), op a transpose of the last two axes where asked.
 */
export function productModel(rank: 2 | 3, transposeA: boolean, transposeB: boolean): Uint8Array {
  const batch = rank === 3 ? ["g"] : [];
  const node = [
    ...stringField(1, PRODUCT_INPUTS[0]),
    ...stringField(1, PRODUCT_INPUTS[1]),
    ...stringField(2, PRODUCT_OUTPUT),
    ...stringField(3, "product"),
    ...stringField(4, "FusedMatMul"),
    ...bytesField(5, intAttribute("transA", transposeA ? 1 : 0)),
    ...bytesField(5, intAttribute("transB", transposeB ? 1 : 0)),
    ...stringField(7, MICROSOFT_DOMAIN),
  ];
  const graph = [
    ...bytesField(1, node),
    ...stringField(2, "product"),
    ...bytesField(11, floatTensor(PRODUCT_INPUTS[0], [...batch, "a_rows", "a_cols"])),
    ...bytesField(11, floatTensor(PRODUCT_INPUTS[1], [...batch, "b_rows", "b_cols"])),
    ...bytesField(12, floatTensor(PRODUCT_OUTPUT, [...batch, "m", "n"])),
  ];
  return modelBytes(graph);
}

/** Names of the 4-bit product's inputs: x [m, K], the packed codes [N*K/2], the float32 absmax [N*K/blocksize]. */
export const BNB4_INPUTS = ["x", "codes", "absmax"] as const;

/**
 * The model y = x @ deq(w)^T for a [N, K] weight in bitsandbytes' 4-bit layout (two codes a byte, the
 * high nibble first, one float32 absmax per block): quantType 0 is FP4, 1 NF4 (the op's numbering).
 */
export function bnb4ProductModel(K: number, N: number, blocksize: number, quantType: 0 | 1): Uint8Array {
  const node = [
    ...BNB4_INPUTS.flatMap((name) => stringField(1, name)),
    ...stringField(2, PRODUCT_OUTPUT),
    ...stringField(3, "product"),
    ...stringField(4, "MatMulBnb4"),
    ...bytesField(5, intAttribute("K", K)),
    ...bytesField(5, intAttribute("N", N)),
    ...bytesField(5, intAttribute("block_size", blocksize)),
    ...bytesField(5, intAttribute("quant_type", quantType)),
    ...stringField(7, MICROSOFT_DOMAIN),
  ];
  const graph = [
    ...bytesField(1, node),
    ...stringField(2, "product"),
    ...bytesField(11, floatTensor(BNB4_INPUTS[0], ["m", "k"])),
    ...bytesField(11, floatTensor(BNB4_INPUTS[1], ["bytes"], ONNX_UINT8)),
    ...bytesField(11, floatTensor(BNB4_INPUTS[2], ["blocks"])),
    ...bytesField(12, floatTensor(PRODUCT_OUTPUT, ["m", "n"])),
  ];
  return modelBytes(graph);
}

/** ModelProto { ir_version, opset_import (ONNX and com.microsoft), graph }. */
function modelBytes(graph: number[]): Uint8Array {
  const opsets = [...bytesField(8, [...stringField(1, ""), ...intField(2, ONNX_OPSET)]), ...bytesField(8, [...stringField(1, MICROSOFT_DOMAIN), ...intField(2, 1)])];
  return Uint8Array.from([...intField(1, IR_VERSION), ...opsets, ...bytesField(7, graph)]);
}
