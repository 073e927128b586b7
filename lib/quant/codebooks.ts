// The 4-bit code books as data: NF4 and FP4 exactly as bitsandbytes ships them (QLoRA paper,
// arXiv 2305.14314, section 3), the symmetric INT4 the paper compares against, and user books.
import { InvalidArgumentError, expected } from "../errors.js";

/** The built-in 4-bit data types. */
export type QuantType = "nf4" | "fp4" | "int4";

/** Every built-in type, in the order comparisons list them. */
export const QUANT_TYPES: readonly QuantType[] = ["nf4", "fp4", "int4"];

/**
 * The built-in code books: entry i is the value of 4-bit code i. One copy of each table.
 * NF4 is bitsandbytes' shipped table (not regenerated from the paper's formula, since checkpoints use
 * these exact floats). FP4 (E2M1 without subnormal 0.5) is listed in bit-pattern order, sign in bit 3.
 * INT4 is symmetric: (i - 7) / 7 for i = 0..14; code 15 repeats 0 and is never chosen.
 */
export const CODEBOOKS: Readonly<Record<QuantType, readonly number[]>> = Object.freeze({
  nf4: Object.freeze([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
  ]),
  fp4: Object.freeze([0, 0.0625, 8, 12, 4, 6, 2, 3, -0, -0.0625, -8, -12, -4, -6, -2, -3].map((v) => v / 12)),
  int4: Object.freeze([...Array.from({ length: 15 }, (_, i) => (i - 7) / 7), 0]),
});

/** A code book: 16 float32 values indexed by 4-bit code, and the name it is reported under. */
export interface CodeBook {
  name: QuantType | "custom";
  values: Float32Array;
}

/** The code book of a built-in type, or a validated user book of 16 finite values in [-1, 1]. */
export function codeBook(type: QuantType | ArrayLike<number>): CodeBook {
  if (typeof type === "string") {
    const values = CODEBOOKS[type];
    if (!values) throw new InvalidArgumentError("codeBook", expected(`a quant type (${QUANT_TYPES.join(", ")}) or 16 code values`, JSON.stringify(type)));
    return { name: type, values: new Float32Array(values) };
  }
  if (type.length !== 16) throw new InvalidArgumentError("codeBook", expected("16 code values", `${type.length} values`, "A 4-bit code book has one value per code."));
  const values = new Float32Array(16);
  for (let i = 0; i < 16; i++) {
    const v = type[i]!;
    if (!Number.isFinite(v) || Math.abs(v) > 1) throw new InvalidArgumentError("codeBook", expected("code values in [-1, 1]", `code[${i}] = ${v}`, "Values are scaled by each block's absmax, so the book must span [-1, 1]."));
    values[i] = v;
  }
  return { name: "custom", values };
}

/** Whether `values` is bit-for-bit one of the built-in books (used to name a book read from a file). */
export function identifyCodeBook(values: ArrayLike<number>): QuantType | "custom" {
  const f32 = new Float32Array(values);
  for (const type of QUANT_TYPES) {
    const book = new Float32Array(CODEBOOKS[type]);
    if (f32.length === 16 && book.every((v, i) => v === f32[i])) return type; // -0 === 0: JSON drops the sign
  }
  return "custom";
}
