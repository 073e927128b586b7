// lib/model's public surface.
export { DenseLinear, type Linear } from "./linear.js";
