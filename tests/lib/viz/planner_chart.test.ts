// The planner chart on the planner's own output, passed as planByCategory gives it: the CUDA runtime
// share is a labelled segment on top of each bar, counts toward the fit exactly as lib/plan's
// deviceFit counts it (the tables' words), and renders; bad runtime values are refused like bad
// category bytes. Its units and labels say what is drawn: GiB tiers from 4 to 80, a symlog axis, a
// 16-bit base named 16-bit, and a run past the largest tier marked with how many it spans.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEVICE_TIERS_GIB, deviceFit, describeDeviceFit, planByCategory, planMemory, type MemoryPlan } from "../../../lib/plan/index.js";
import { DEFAULT_GPUS, plannerChart } from "../../../lib/viz/index.js";
import { RUNTIME_COLOR, RUNTIME_LABEL } from "../../../lib/viz/planner_chart.js";

const GiB = 2 ** 30;
type Bar = { row: string; category: string; order: number; x: number; x2: number };
type Cell = { row: string; gpu: string; fits: string };

function parts(chart: ReturnType<typeof plannerChart>) {
  const [left, right] = chart.spec.hconcat as [{ layer: [{ data: { values: Bar[] }; encoding: { color: { scale: { domain: string[]; range: string[] } } } }] }, { data: { values: Cell[] } }];
  return { bars: left.layer[0].data.values, colors: left.layer[0].encoding.color.scale, grid: right.data.values };
}

const setups: Array<[string, string, MemoryPlan]> = [
  ["7B", "LoRA", planMemory("7b", { method: "lora" })],
  ["7B", "QLoRA", planMemory("7b", { method: "qlora" })],
  ["70B", "QLoRA", planMemory("70b", { method: "qlora", optimizer: { bits: 8, paged: true } })],
  ["70B", "LoRA", planMemory("70b", { method: "lora" })],
];

test("plannerChart takes planByCategory's output as it is: runtime on top of each bar, with its own label and colour", () => {
  const chart = plannerChart(setups.map(([model, method, plan]) => ({ model, method, bytesByCategory: planByCategory(plan) })));
  const { bars, colors } = parts(chart);
  for (const [model, method, plan] of setups) {
    const row = bars.filter((b) => b.row === `${model} ${method}`);
    const runtime = row.find((b) => b.category === RUNTIME_LABEL)!;
    assert.ok(runtime, `${model} ${method} has a runtime segment`);
    assert.equal(runtime.x2 - runtime.x, planByCategory(plan).runtime! / GiB);
    assert.equal(runtime.x2, Math.max(...row.map((b) => b.x2)), "runtime is stacked last");
    // The bar ends at what must be on the device: paged-out optimizer state is not drawn.
    assert.ok(Math.abs(runtime.x2 - plan.requiredBytes / GiB) < 1e-9, `${model} ${method}: bar ends at ${runtime.x2} GiB, plan needs ${plan.requiredBytes / GiB}`);
  }
  assert.equal(colors.domain.at(-1), RUNTIME_LABEL);
  assert.equal(colors.range.at(-1), RUNTIME_COLOR);
  assert.equal(colors.domain.length, colors.range.length);
  assert.equal(new Set(colors.range).size, colors.range.length, "the runtime colour is not a category's");
  assert.ok(chart.toSVG().includes(RUNTIME_LABEL), "the legend names the runtime share");
});

test("plannerChart's fit grid agrees with deviceFit, runtime share included", () => {
  const chart = plannerChart(setups.map(([model, method, plan]) => ({ model, method, bytesByCategory: planByCategory(plan) })));
  const { grid } = parts(chart);
  assert.equal(grid.length, setups.length * DEFAULT_GPUS.length);
  for (const [model, method, plan] of setups) {
    const fit = deviceFit(plan.requiredBytes);
    for (const [j, g] of fit.tiers.entries()) {
      const cell = grid.find((c) => c.row === `${model} ${method}` && c.gpu === `${g.gib} GiB`)!;
      const several = !g.fits && j === fit.tiers.length - 1;
      assert.equal(cell.fits, g.fits ? "fits" : several ? "fits across several" : "too big", `${model} ${method} on ${g.gib} GiB`);
    }
  }
  // The runtime share decides a fit: 7B LoRA's tensors (13.5 GiB) fit a 14 GiB device, tensors plus CUDA context (15.0 GiB) do not.
  const lora7 = setups[0]![2];
  const tensorsOnly = lora7.requiredBytes - planByCategory(lora7).runtime!;
  const device = { name: "14 GiB", bytes: 14 * GiB };
  assert.ok(tensorsOnly < device.bytes && lora7.requiredBytes > device.bytes);
  const small = parts(plannerChart([{ model: "7B", method: "LoRA", bytesByCategory: planByCategory(lora7) }], { gpus: [device] })).grid;
  assert.equal(small[0]!.fits, "fits across several", "one 14 GiB device does not hold it; two do");
});

test("plannerChart: a TF.js plan has no runtime segment; bad runtime bytes and unknown categories are refused", () => {
  const tfjs = planMemory({ hidden_size: 96, intermediate_size: 256, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 947, tie_word_embeddings: true }, { method: "qlora", runtime: "tfjs" });
  const { bars, colors } = parts(plannerChart([{ model: "base", method: "QLoRA", bytesByCategory: planByCategory(tfjs) }]));
  assert.ok(!bars.some((b) => b.category === RUNTIME_LABEL));
  assert.ok(!colors.domain.includes(RUNTIME_LABEL));
  assert.throws(() => plannerChart([{ model: "7B", method: "QLoRA", bytesByCategory: { base_packed: GiB, runtime: -1 } }]), /plannerChart: expected bytes of runtime to be a finite number >= 0, got -1/);
  assert.throws(() => plannerChart([{ model: "7B", method: "QLoRA", bytesByCategory: { runtime: Number.NaN } }]), /bytes of runtime to be a finite number >= 0, got NaN/);
  assert.throws(() => plannerChart([{ model: "7B", method: "QLoRA", bytesByCategory: { weights: GiB } as never }]), /plannerChart: expected a memory category/);
});

test("plannerChart labels what it draws: GiB tiers 4 to 80, a symlog axis, 16-bit bases, and 70B LoRA across two 80 GiB GPUs as the tables say", () => {
  const chart = plannerChart(setups.map(([model, method, plan]) => ({ model, method, bytesByCategory: planByCategory(plan) })));
  const { bars, grid } = parts(chart);
  assert.deepEqual(DEFAULT_GPUS.map((g) => g.name), DEVICE_TIERS_GIB.map((t) => `${t} GiB`));
  assert.deepEqual(DEFAULT_GPUS.map((g) => g.bytes), DEVICE_TIERS_GIB.map((t) => t * GiB));
  const left = (chart.spec.hconcat as Array<{ layer?: Array<{ encoding: { x: { title?: string; scale?: { type: string } } } }> }>)[0]!.layer![0]!.encoding.x;
  assert.equal(left.scale?.type, "symlog");
  assert.ok(!/log scale/.test(left.title!) && /symlog/.test(left.title!) && /GiB/.test(left.title!), left.title);
  const svg = chart.toSVG();
  assert.ok(!/\bGB\b/.test(svg.replace(/"80 GB"/g, "")), "no figure is labelled GB");
  // LoRA's bf16 base is drawn as 16-bit, never as float32.
  assert.ok(bars.filter((b) => b.row.endsWith("LoRA") && !b.row.endsWith("QLoRA")).some((b) => b.category === "base weights, 16-bit"));
  assert.ok(!bars.some((b) => b.category === "base weights, float32"));
  const lora70 = setups[3]![2];
  const fit = deviceFit(lora70.requiredBytes);
  assert.equal(fit.smallestGiB, undefined);
  assert.equal(fit.devicesOfLargest, 2);
  assert.equal(describeDeviceFit(fit), "needs 2 x 80 GiB");
  const cell = grid.find((c) => c.row === "70B LoRA" && c.gpu === "80 GiB") as Cell & { mark: string };
  assert.equal(cell.fits, "fits across several");
  assert.equal(cell.mark, "2 ×");
  assert.ok(chart.toString().includes("70B LoRA 140 GiB -> needs 2 x 80 GiB"), chart.toString());
});

test("deviceFit refuses what is not bytes or not ascending tiers", () => {
  assert.throws(() => deviceFit(-1), /deviceFit: expected bytes to be a finite number >= 0, got -1/);
  assert.throws(() => deviceFit(1, [8, 4]), /deviceFit: expected tiers in GiB, positive and ascending, got \[8,4\]/);
  assert.equal(describeDeviceFit(deviceFit(5 * GiB)), "fits 6 GiB");
});
