// Optimizer step time by state form, measured in one run against the resident 32-bit AdamW:
// paged (budget 25% of the state) / resident, and 8-bit / 32-bit. Run: node --import tsx bench/optim.ts
import * as tf from "@tensorflow/tfjs-core";
import { resolveBackend } from "../lib/backend.js";
import { seededNormal } from "../lib/quant/random_normal.js";
import { AdamW, type OptimizerStateOption, type PagingRecord } from "../lib/optim/index.js";

const SHAPES = [[1024, 512], [512, 1024], [1024, 512], [512, 1024]]; // 2M parameters, 16 MiB of 32-bit state
const WARMUP = 2;
const STEPS = 10;

const backend = await resolveBackend();
const total = SHAPES.reduce((s, [a, b]) => s + a! * b!, 0);
const stateBytes = 8 * total;
const params = SHAPES.map((shape, i) => ({ name: `w${i}`, variable: tf.variable(tf.tensor(seededNormal(shape[0]! * shape[1]!, i), shape)) }));
const grads = Object.fromEntries(SHAPES.map((shape, i) => [`w${i}`, tf.tensor(seededNormal(shape[0]! * shape[1]!, 100 + i, { std: 1e-2 }), shape)]));

function time(state: OptimizerStateOption): { ms: number; records: PagingRecord[] } {
  const records: PagingRecord[] = [];
  const opt = new AdamW({ state, onPaging: (r) => records.push(r) });
  for (let i = 0; i < WARMUP; i++) opt.applyGradients(params, grads, 1e-4);
  const started = performance.now();
  for (let i = 0; i < STEPS; i++) opt.applyGradients(params, grads, 1e-4);
  tf.engine().backend.readSync(params[0]!.variable.dataId); // finish pending work
  const ms = (performance.now() - started) / STEPS;
  opt.dispose();
  return { ms, records: records.slice(WARMUP) };
}

const pageBytes = 1 << 20; // the default page size
const budget = Math.floor(stateBytes / 4);
const resident = time({ kind: "resident" });
const paged = time({ kind: "paged", budgetBytes: budget, pageBytes });
const q8 = time({ kind: "8bit" });
const pq8 = time({ kind: "paged-8bit", budgetBytes: Math.floor((stateBytes / 4) * 0.254), pageBytes: 256 * 1040 });
const avg = (rs: PagingRecord[], f: (r: PagingRecord) => number) => rs.reduce((s, r) => s + f(r), 0) / Math.max(1, rs.length);

console.log(`backend ${backend.active}; ${total.toLocaleString()} parameters in ${SHAPES.length} tensors; 32-bit state ${(stateBytes / 2 ** 20).toFixed(1)} MiB`);
console.log(`resident 32-bit      ${resident.ms.toFixed(1)} ms/step`);
console.log(`paged 32-bit (25%)   ${paged.ms.toFixed(1)} ms/step   ratio vs resident ${(paged.ms / resident.ms).toFixed(2)}x (goal < 1.3x); per step ${avg(paged.records, (r) => r.pagesIn).toFixed(0)} pages in, ${(avg(paged.records, (r) => r.bytesIn + r.bytesOut) / 2 ** 20).toFixed(1)} MiB moved, ${avg(paged.records, (r) => r.pagingMs).toFixed(1)} ms paging`);
console.log(`8-bit                ${q8.ms.toFixed(1)} ms/step   ratio vs 32-bit ${(q8.ms / resident.ms).toFixed(2)}x`);
console.log(`paged 8-bit (25%)    ${pq8.ms.toFixed(1)} ms/step   ratio vs 8-bit ${(pq8.ms / q8.ms).toFixed(2)}x`);
tf.dispose([...params.map((p) => p.variable), ...Object.values(grads)]);
