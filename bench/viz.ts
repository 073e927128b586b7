// lib/viz benchmark: time per chart (spec -> SVG -> 2x PNG), against vega's own async toSVG on
// the same spec, and the live loss chart's overhead during a simulated 100-step run.
// Run: node --import tsx bench/viz.ts [--step-ms 50,200] [--repeats 3]
import { parseArgs } from "node:util";
import * as vega from "vega";
import { compile } from "vega-lite";
import { JUPYTER_DISPLAY, liveLossChart, renderSvg, svgToPng, toDisplayBundle, type DisplayFunction } from "../lib/viz/index.js";
import { sampleCharts } from "../tests/lib/viz/samples.js";

const { values } = parseArgs({ options: { "step-ms": { type: "string", default: "50,200" }, repeats: { type: "string", default: "3" } } });
const stepMsList = String(values["step-ms"]).split(",").map(Number);
const repeats = Number(values.repeats);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

console.log("chart            svg ms  png ms  total ms  vega toSVG ms  ratio(svg/vega)  size");
const totals: number[] = [];
renderSvg(sampleCharts()[0].chart.spec); // warm up modules and fonts
for (const { name, chart } of sampleCharts()) {
  const svgTimes: number[] = [];
  const pngTimes: number[] = [];
  const peerTimes: number[] = [];
  let size = "";
  for (let r = 0; r < repeats; r++) {
    let t = performance.now();
    const svg = renderSvg(chart.spec);
    svgTimes.push(performance.now() - t);
    t = performance.now();
    const png = svgToPng(svg);
    pngTimes.push(performance.now() - t);
    size = `${png.width}x${png.height} (${(png.png.length / 1024).toFixed(0)} KiB)`;
    t = performance.now();
    const view = new vega.View(vega.parse(compile(structuredClone(chart.spec) as never).spec), { renderer: "none" });
    await view.toSVG();
    view.finalize();
    peerTimes.push(performance.now() - t);
  }
  const total = median(svgTimes) + median(pngTimes);
  totals.push(total);
  console.log(
    `${name.padEnd(16)} ${median(svgTimes).toFixed(0).padStart(6)}  ${median(pngTimes).toFixed(0).padStart(6)}  ${total.toFixed(0).padStart(8)}  ${median(peerTimes).toFixed(0).padStart(13)}  ${(median(svgTimes) / median(peerTimes)).toFixed(2).padStart(15)}  ${size}`,
  );
}
console.log(`median chart render (spec -> 2x PNG): ${median(totals).toFixed(0)} ms`);

// Live: 100 steps of `stepMs` of busy work (a stand-in for a training step), a real clock, a display
// that builds and serializes each bundle as the kernel would.
function busy(ms: number): void {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x += Math.sqrt(x + 1);
}
for (const stepMs of stepMsList) {
  let sends = 0;
  let withPng = 0;
  const serialize = (value: unknown) => {
    const bundle = toDisplayBundle((value as { [JUPYTER_DISPLAY](): never })[JUPYTER_DISPLAY]());
    sends++;
    if ("image/png" in bundle.data) withPng++;
    return JSON.stringify(bundle).length;
  };
  const display: DisplayFunction = (value) => (serialize(value), { displayId: "bench", update: (next) => void serialize(next) });
  const live = liveLossChart({ display, totalSteps: 100 });
  const start = performance.now();
  for (let s = 1; s <= 100; s++) {
    busy(stepMs);
    live.onStep({ run: "QLoRA", step: s, loss: 3 * Math.exp(-s / 40) + 1, lr: 2e-4, gradNorm: 1, tokensPerSecond: 1000, elapsedMs: performance.now() - start });
    if (s % 25 === 0) live.onEval({ run: "QLoRA", step: s, loss: 1.4, perplexity: Math.exp(1.4), elapsedMs: performance.now() - start });
  }
  const beforeFinish = live.stats().busyMs;
  live.finish();
  const runMs = performance.now() - start;
  const stats = live.stats();
  console.log(`live: 100 steps x ${stepMs} ms, run ${runMs.toFixed(0)} ms, ${sends} sends (${withPng} with PNG)`);
  console.log(`live overhead: intermediate updates ${beforeFinish.toFixed(1)} ms = ${((100 * beforeFinish) / runMs).toFixed(2)} % of the run; with the final PNG ${stats.busyMs.toFixed(1)} ms = ${((100 * stats.busyMs) / runMs).toFixed(2)} %`);
}
