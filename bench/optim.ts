// Optimizer step time by state form against the resident 32-bit AdamW: paged (budget 25% of the
// state: each parameter's state fits and moves whole; 12.5%: each parameter is cut in two chunks) /
// resident, and 8-bit / 32-bit. The forms take turns step by step, each on its own copy of the
// parameters, and the report gives medians of the per-round ratios, so load from other processes
// hits every form alike. Run: node --import tsx bench/optim.ts [--steps N]
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../lib/backend.js";
import { seededNormal } from "../lib/quant/random_normal.js";
import { AdamW, type NamedVariable, type OptimizerStateOption, type PagingRecord } from "../lib/optim/index.js";

const SHAPES = [[1024, 512], [512, 1024], [1024, 512], [512, 1024]]; // 2M parameters, 16 MiB of 32-bit state
const WARMUP = 2;
const { values } = parseArgs({ options: { steps: { type: "string", default: "15" } } });
const STEPS = Number(values.steps);

const backend = await resolveBackend();
const total = SHAPES.reduce((s, [a, b]) => s + a! * b!, 0);
const stateBytes = 8 * total;
const grads = Object.fromEntries(SHAPES.map((shape, i) => [`w${i}`, tf.tensor(seededNormal(shape[0]! * shape[1]!, 100 + i, { std: 1e-2 }), shape)]));

interface Form {
  label: string;
  params: NamedVariable[];
  opt: AdamW;
  ms: number[];
  records: PagingRecord[];
}

function form(label: string, state: OptimizerStateOption): Form {
  const records: PagingRecord[] = [];
  const params = SHAPES.map((shape, i) => ({ name: `w${i}`, variable: tf.variable(tf.tensor(seededNormal(shape[0]! * shape[1]!, i), shape)) }));
  return { label, params, opt: new AdamW({ state, onPaging: (r) => records.push(r) }), ms: [], records };
}

function step(f: Form): number {
  const started = performance.now();
  f.opt.applyGradients(f.params, grads, 1e-4);
  tf.engine().backend.readSync(f.params[0]!.variable.dataId); // finish pending work
  return performance.now() - started;
}

const pageBytes = 1 << 20; // the default page size
const forms = {
  resident: form("resident 32-bit", { kind: "resident" }),
  paged: form("paged 32-bit (25%)", { kind: "paged", budgetBytes: Math.floor(stateBytes / 4), pageBytes }),
  pagedHalf: form("paged 32-bit (12.5%)", { kind: "paged", budgetBytes: Math.floor(stateBytes / 8), pageBytes }),
  q8: form("8-bit", { kind: "8bit" }),
  pq8: form("paged 8-bit (25%)", { kind: "paged-8bit", budgetBytes: Math.floor((stateBytes / 4) * 0.254), pageBytes: 256 * 1040 }),
};
const all = Object.values(forms);
for (let i = 0; i < WARMUP; i++) for (const f of all) step(f);
for (const f of all) f.records.length = 0;
for (let i = 0; i < STEPS; i++) for (const f of all) f.ms.push(step(f));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ratio = (a: Form, b: Form) => median(a.ms.map((ms, i) => ms / b.ms[i]!));
const avg = (rs: PagingRecord[], f: (r: PagingRecord) => number) => rs.reduce((s, r) => s + f(r), 0) / Math.max(1, rs.length);
const { resident, paged, pagedHalf, q8, pq8 } = forms;
const pagingLine = (f: Form) =>
  `per step ${avg(f.records, (r) => r.pagesIn).toFixed(0)} pages in, ${(avg(f.records, (r) => r.bytesIn + r.bytesOut) / 2 ** 20).toFixed(1)} MiB moved, ${avg(f.records, (r) => r.pagingMs).toFixed(1)} ms paging`;

console.log(`backend ${backend.active}; ${total.toLocaleString()} parameters in ${SHAPES.length} tensors; 32-bit state ${(stateBytes / 2 ** 20).toFixed(1)} MiB; ${STEPS} interleaved rounds (medians)`);
console.log(`resident 32-bit      ${median(resident.ms).toFixed(1)} ms/step`);
console.log(`paged 32-bit (25%)   ${median(paged.ms).toFixed(1)} ms/step   ratio vs resident ${ratio(paged, resident).toFixed(2)}x (goal < 1.3x); ${pagingLine(paged)}`);
console.log(`paged 32-bit (12.5%) ${median(pagedHalf.ms).toFixed(1)} ms/step   ratio vs resident ${ratio(pagedHalf, resident).toFixed(2)}x; ${pagingLine(pagedHalf)}`);
console.log(`8-bit                ${median(q8.ms).toFixed(1)} ms/step   ratio vs 32-bit ${ratio(q8, resident).toFixed(2)}x`);
console.log(`paged 8-bit (25%)    ${median(pq8.ms).toFixed(1)} ms/step   ratio vs 8-bit ${ratio(pq8, q8).toFixed(2)}x`);
for (const f of all) {
  f.opt.dispose();
  tf.dispose(f.params.map((p) => p.variable));
}
tf.dispose(Object.values(grads));
