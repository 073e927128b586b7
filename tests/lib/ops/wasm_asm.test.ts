// The WebAssembly assembler: LEB128 against the specification's worked values, and a function built with
// FunctionBuilder that V8 validates and runs (a loop summing an i32 array, a SIMD splat stored to memory).
import { test } from "node:test";
import assert from "node:assert/strict";
import { F32, FunctionBuilder, I32, OP, SIMD_OP, V128, float32Bytes, sleb, uleb, wasmApi } from "../../../lib/ops/wasm_asm.js";
import { WasmKernel } from "../../../lib/ops/wasm_kernel.js";

test("LEB128: the DWARF / WebAssembly worked values", () => {
  assert.deepEqual(uleb(0), [0x00]);
  assert.deepEqual(uleb(127), [0x7f]);
  assert.deepEqual(uleb(128), [0x80, 0x01]);
  assert.deepEqual(uleb(624485), [0xe5, 0x8e, 0x26]);
  assert.deepEqual(sleb(-1), [0x7f]);
  assert.deepEqual(sleb(63), [0x3f]);
  assert.deepEqual(sleb(64), [0xc0, 0x00]);
  assert.deepEqual(sleb(-123456), [0xc0, 0xbb, 0x78]);
  assert.deepEqual(float32Bytes(1), [0x00, 0x00, 0x80, 0x3f]);
});

test("FunctionBuilder: locals numbered after the parameters, runs merged by type; the module validates and runs", () => {
  // sum(out, values, count): out[0] = values[0] + ... + values[count - 1]; out[4..19] = f32x4.splat(2.5).
  const bytes = (exportName: string) => {
    const b = new FunctionBuilder(3);
    const [OUT, VALUES, COUNT] = [0, 1, 2];
    const [ACC, END_PTR] = b.locals(I32, 2);
    const HALF = b.local(F32);
    const SPLAT = b.local(V128);
    assert.deepEqual([ACC, END_PTR, HALF, SPLAT], [3, 4, 5, 6]);
    b.get(VALUES);
    b.get(COUNT);
    b.i32(2);
    b.op(OP.I32_SHL, OP.I32_ADD);
    b.set(END_PTR);
    b.loop(() => {
      b.get(ACC);
      b.get(VALUES);
      b.op(OP.I32_LOAD, 2, 0);
      b.op(OP.I32_ADD);
      b.set(ACC);
      b.stepUntil(VALUES, 4, END_PTR);
    });
    b.get(OUT);
    b.get(ACC);
    b.op(OP.I32_STORE, 2, 0);
    b.f32(2.5);
    b.set(HALF);
    b.get(HALF);
    b.simd(SIMD_OP.F32X4_SPLAT);
    b.set(SPLAT);
    b.get(OUT);
    b.get(SPLAT);
    b.simd(SIMD_OP.V128_STORE, 0, ...uleb(16));
    return b.module(exportName);
  };
  const kernel = new WasmKernel("sum", bytes);
  assert.ok(kernel.available(), "WebAssembly SIMD compiles on Node 20");
  const memory = new (wasmApi()!).Memory({ initial: 1 });
  new Int32Array(memory.buffer, 64, 5).set([1, 2, 3, 4, 5]);
  kernel.instantiate(memory)(0, 64, 5);
  assert.equal(new Int32Array(memory.buffer, 0, 1)[0], 15);
  assert.deepEqual([...new Float32Array(memory.buffer, 16, 4)], [2.5, 2.5, 2.5, 2.5]);
});
