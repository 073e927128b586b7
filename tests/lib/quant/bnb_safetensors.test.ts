// bitsandbytes 4-bit safetensors: key layout and JSON as transformers writes them, identical bytes on a
// round trip, an independent numpy reader that dequantizes our file, and clear errors on bad files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileFormatError } from "../../../lib/errors.js";
import { SafetensorsFile, encodeSafetensors, float32Bytes } from "../../../lib/io/safetensors.js";
import { openBnb4bitSafetensors, pythonFloatRepr, quantStateJson, readBnb4bitSafetensors, writeBnb4bitSafetensors } from "../../../lib/quant/bnb_safetensors.js";
import { quantize4bit } from "../../../lib/quant/quantized_tensor.js";
import { seededNormal } from "../../../lib/quant/random_normal.js";
import { jupyterPython, skipUnlessPythonModules } from "../../helpers/jupyter.js";

const dir = mkdtempSync(join(tmpdir(), "qlora-lab-bnb-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function sample() {
  const w1 = quantize4bit(seededNormal(96 * 64, 1, { std: 0.05 }), [96, 64], { doubleQuant: true, name: "model.layers.0.mlp.up_proj.weight" });
  const w2 = quantize4bit(seededNormal(33 * 7, 2), [33, 7], { quantType: "fp4", blocksize: 128 });
  const norm = new Float32Array([1, 2, 3]);
  return {
    quantized: new Map([["model.layers.0.mlp.up_proj.weight", w1], ["model.layers.0.self_attn.q_proj.weight", w2]]),
    plain: new Map([["model.norm.weight", { dtype: "F32" as const, shape: [3], data: float32Bytes(norm) }]]),
  };
}

test("six keys per double-quantized weight, four without; shapes and dtypes as transformers writes them", () => {
  const path = join(dir, "a.safetensors");
  writeBnb4bitSafetensors(path, sample());
  const file = SafetensorsFile.open(path);
  const up = "model.layers.0.mlp.up_proj.weight";
  const keys = file.names().filter((n) => n.startsWith(up)).sort();
  assert.deepEqual(keys, [up, `${up}.absmax`, `${up}.nested_absmax`, `${up}.nested_quant_map`, `${up}.quant_map`, `${up}.quant_state.bitsandbytes__nf4`].sort());
  assert.deepEqual(file.entry(up).shape, [96 * 32, 1]);
  assert.equal(file.entry(up).dtype, "U8");
  assert.deepEqual([file.entry(`${up}.absmax`).dtype, file.entry(`${up}.absmax`).shape], ["U8", [96]]);
  assert.deepEqual(file.entry(`${up}.nested_absmax`).shape, [1]);
  assert.deepEqual(file.entry(`${up}.nested_quant_map`).shape, [256]);
  assert.deepEqual(file.entry(`${up}.quant_map`).shape, [16]);
  const state = Buffer.from(file.readBytes(`${up}.quant_state.bitsandbytes__nf4`)).toString("utf8");
  assert.match(state, /^\{"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": \[96, 64\], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": [0-9.e-]+\}$/);
  const q = "model.layers.0.self_attn.q_proj.weight";
  assert.deepEqual(file.names().filter((n) => n.startsWith(q)).sort(), [q, `${q}.absmax`, `${q}.quant_map`, `${q}.quant_state.bitsandbytes__fp4`].sort());
  assert.equal(file.entry(`${q}.absmax`).dtype, "F32");
  assert.deepEqual(file.metadata, { format: "pt" });
});

test("round trip: write, read, write again gives identical bytes and identical dequantized values", () => {
  const first = join(dir, "first.safetensors");
  const second = join(dir, "second.safetensors");
  const original = sample();
  writeBnb4bitSafetensors(first, original);
  const read = openBnb4bitSafetensors(first);
  writeBnb4bitSafetensors(second, read);
  assert.deepEqual(readFileSync(second), readFileSync(first));
  for (const [name, q] of original.quantized) {
    assert.deepEqual(read.quantized.get(name)!.dequantizeToArray(), q.dequantizeToArray(), name);
    assert.equal(read.quantized.get(name)!.quantType, q.quantType);
  }
  const floats = readBnb4bitSafetensors(first);
  assert.deepEqual(floats.get("model.norm.weight")!.values, new Float32Array([1, 2, 3]));
  assert.deepEqual(floats.get("model.layers.0.self_attn.q_proj.weight")!.shape, [33, 7]);
});

test("quant_state JSON equals Python's json.dumps of the same dict; Python repr of floats", { skip: skipUnlessPythonModules("json") }, () => {
  const q = sample().quantized.get("model.layers.0.mlp.up_proj.weight")!;
  const script = `import json,sys; d=json.loads(sys.argv[1]); sys.stdout.write(json.dumps(d))`;
  const out = spawnSync(jupyterPython, ["-c", script, quantStateJson(q)], { encoding: "utf8" });
  assert.equal(out.stdout, quantStateJson(q));
  const values = [0.1, 1e-5, 2.5e-7, 123456789012345680000, 1e16, 12345.678, 3, -0.000123, Math.fround(0.0217)];
  const py = spawnSync(jupyterPython, ["-c", `import sys; print(" ".join(repr(float(v)) for v in sys.argv[1:]))`, ...values.map((v) => v.toPrecision(17))], { encoding: "utf8" });
  assert.equal(py.stdout.trim(), values.map(pythonFloatRepr).join(" "));
});

test("an independent numpy reader dequantizes our file to the same values (layout, nibble order, DQ formula)", { skip: skipUnlessPythonModules("numpy") }, () => {
  const path = join(dir, "numpy.safetensors");
  const checkpoint = sample();
  writeBnb4bitSafetensors(path, checkpoint);
  const script = `
import json, struct, sys, numpy as np
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n]); base = 8 + n
def get(k):
    e = header[k]; b, t = e["data_offsets"]
    return np.frombuffer(raw[base + b: base + t], dtype={"U8": np.uint8, "F32": np.float32}[e["dtype"]])
out = {}
for k in header:
    if ".quant_state.bitsandbytes__" not in k: continue
    w = k.split(".quant_state.")[0]
    st = json.loads(bytes(get(k)).decode())
    size = int(np.prod(st["shape"]))
    packed = get(w)
    codes = np.empty(packed.size * 2, dtype=np.uint8); codes[0::2] = packed >> 4; codes[1::2] = packed & 15
    if "nested_offset" in st:
        q = get(w + ".absmax"); nm = get(w + ".nested_quant_map"); na = get(w + ".nested_absmax")
        absmax = (nm[q] * np.repeat(na, st["nested_blocksize"])[: q.size]).astype(np.float32) + np.float32(st["nested_offset"])
    else:
        absmax = get(w + ".absmax")
    vals = (get(w + ".quant_map")[codes[:size]] * np.repeat(absmax, st["blocksize"])[:size]).astype(np.float32)
    out[w] = vals.tobytes().hex()
print(json.dumps(out))
`;
  const result = spawnSync(jupyterPython, ["-c", script, path], { encoding: "utf8", maxBuffer: 1 << 26 });
  assert.equal(result.status, 0, result.stderr);
  const fromNumpy = JSON.parse(result.stdout) as Record<string, string>;
  for (const [name, q] of checkpoint.quantized) {
    const values = q.dequantizeToArray();
    assert.equal(fromNumpy[name], Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString("hex"), name);
  }
});

test("bad files: truncated, missing companion tensor, INT4 cannot be written", () => {
  const good = join(dir, "good.safetensors");
  writeBnb4bitSafetensors(good, sample());
  const bytes = readFileSync(good);
  const truncated = join(dir, "truncated.safetensors");
  writeFileSync(truncated, bytes.subarray(0, bytes.length - 10));
  assert.throws(() => openBnb4bitSafetensors(truncated), (e: Error) => e instanceof FileFormatError && /truncated/.test(e.message));
  const { quantized, plain } = sample();
  const missing = join(dir, "missing.safetensors");
  const up = "model.layers.0.mlp.up_proj.weight";
  // Write the file, then rewrite it without the quant_map of one weight.
  writeBnb4bitSafetensors(missing, { quantized, plain });
  const file = SafetensorsFile.open(missing);
  const kept = new Map(file.names().filter((n) => n !== `${up}.quant_map`).map((n) => [n, file.readTensor(n)] as const));
  writeFileSync(missing, Buffer.concat(encodeSafetensors(kept, { format: "pt" })));
  assert.throws(() => openBnb4bitSafetensors(missing), (e: Error) => e instanceof FileFormatError && e.message.includes(`${up}.quant_map`));
  const int4 = quantize4bit(new Float32Array(64).fill(1), [64], { quantType: "int4" });
  assert.throws(() => writeBnb4bitSafetensors(join(dir, "int4.safetensors"), { quantized: new Map([["w", int4]]) }), /nf4 or fp4/);
});
