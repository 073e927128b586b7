// A loss chart that updates one notebook output in place while a run trains (Jupyter's
// update_display_data through a DisplayFunction), or prints a progress line when there is no display.
// Throttled; intermediate updates carry Vega-Lite + text only, the final one also the PNG.
import type { EvalRecord, StepRecord } from "../train/records.js";
import { InvalidArgumentError, expected } from "../errors.js";
import { requirePositiveInteger } from "../validate.js";
import type { Chart } from "./chart.js";
import type { DisplayFunction, DisplayHandle } from "./display.js";
import { formatDuration, formatNumber } from "../format.js";
import { lossChart, trailingMean, type LossChartOptions } from "./loss_chart.js";

/** Options of {@link liveLossChart}. */
export interface LiveLossChartOptions extends Omit<LossChartOptions, "subtitle"> {
  /** The notebook's display function (the kernel puts `display` in scope). Without it, progress prints. */
  display?: DisplayFunction;
  /** Steps the run will take, for the progress fraction and ETA. */
  totalSteps?: number;
  /** Minimum milliseconds between updates. Default 400 for a display, 2000 for printed lines. */
  intervalMs?: number;
  /** Where progress lines go without a display. Default: process.stdout (one line per update). */
  print?: (line: string) => void;
  /** Clock in milliseconds (injectable for tests). Default performance.now. */
  now?: () => number;
  /** Most raw points drawn per run in intermediate updates (thinned evenly; the EMA uses all). Default 500. */
  maxLivePoints?: number;
}

/** Counts of what a live chart has sent, for tests and benchmarks. */
export interface LiveLossChartStats {
  /** display() calls plus update() calls, including the final one. */
  updates: number;
  /** Progress lines printed (no display). */
  printed: number;
  /** Milliseconds spent inside onStep/onEval/finish (building specs, rendering the final PNG). */
  busyMs: number;
}

/** What `finish` may be told about the finished run(s): train()'s result carries it. */
export interface FinishedRunSummary {
  /** Mean training throughput: training tokens over training time, evaluations excluded. */
  tokensPerSecond?: number;
}

/** Steps averaged for the loss shown in the progress line. */
const PROGRESS_MEAN_STEPS = 10;

/** A live loss chart; pass `onStep` / `onEval` as training callbacks and call `finish()` at the end. */
export class LiveLossChart {
  readonly #options: LiveLossChartOptions;
  readonly #steps: StepRecord[] = [];
  readonly #evals: EvalRecord[] = [];
  readonly #now: () => number;
  readonly #interval: number;
  #handle: DisplayHandle | undefined;
  #lastSent = Number.NEGATIVE_INFINITY;
  #dirty = false;
  #finished: Chart | undefined;
  #done = false;
  #finalTokensPerSecond: number | undefined;
  readonly #stats: LiveLossChartStats = { updates: 0, printed: 0, busyMs: 0 };

  constructor(options: LiveLossChartOptions = {}) {
    if (options.totalSteps !== undefined) requirePositiveInteger("liveLossChart", "totalSteps", options.totalSteps);
    if (options.intervalMs !== undefined && !(options.intervalMs >= 0)) throw new InvalidArgumentError("liveLossChart", expected("intervalMs >= 0", options.intervalMs));
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#interval = options.intervalMs ?? (options.display ? 400 : 2000);
  }

  /** Training callback: records one step and updates the output if the throttle allows. */
  readonly onStep = (record: StepRecord): void => {
    const start = performance.now();
    this.#steps.push(record);
    this.#dirty = true;
    this.#maybeSend();
    this.#stats.busyMs += performance.now() - start;
  };

  /** Training callback: records one evaluation and updates the output if the throttle allows. */
  readonly onEval = (record: EvalRecord): void => {
    const start = performance.now();
    this.#evals.push(record);
    this.#dirty = true;
    this.#maybeSend();
    this.#stats.busyMs += performance.now() - start;
  };

  /** Sends the final state (with the PNG, so a saved notebook shows it) and returns the final chart.
   *  Pass train()'s result so the chart's tokens/s is the run's mean, the figure the result reports. */
  readonly finish = (result?: FinishedRunSummary): Chart => {
    if (this.#finished) return this.#finished;
    const start = performance.now();
    this.#done = true;
    if (result?.tokensPerSecond !== undefined && Number.isFinite(result.tokensPerSecond)) this.#finalTokensPerSecond = result.tokensPerSecond;
    const chart = this.chart();
    if (this.#options.display) {
      if (this.#handle) this.#handle.update(chart);
      else this.#handle = this.#options.display(chart);
      this.#stats.updates++;
    } else {
      this.#print(this.progressLine());
    }
    this.#finished = chart;
    this.#stats.busyMs += performance.now() - start;
    return chart;
  };

  /** The chart of everything recorded so far (progress line as its subtitle). */
  chart(): Chart {
    return this.#chart(this.#options.maxPoints);
  }

  #chart(maxPoints: number | undefined): Chart {
    const { display: _d, totalSteps: _t, intervalMs: _i, print: _p, now: _n, maxLivePoints: _m, ...chartOptions } = this.#options;
    return lossChart(this.#steps, this.#evals, { ...chartOptions, maxPoints, subtitle: this.#progressParts(true) });
  }

  /** While running: "QLoRA · step 40/100 (40%) · loss 2.31 (mean of last 10: 2.40) · 1,234 tok/s (last step) ·
   *  0:05 elapsed · ETA 0:07". After finish(): "done · QLoRA 100 steps, loss ... · 1,200 tok/s (mean) · 0:12". */
  progressLine(): string {
    return this.#progressParts(false).join(" · ");
  }

  /** The progress line's parts; `byLine` groups them into the chart's subtitle lines (one per finished run). */
  #progressParts(byLine: boolean): string[] {
    const last = this.#steps[this.#steps.length - 1];
    if (!last) return [this.#done ? "done · no steps recorded" : "waiting for the first step"];
    const runs = [...new Set(this.#steps.map((r) => r.run))];
    const lastOf = (run: string) => this.#steps.filter((r) => r.run === run).pop()!;
    // Several runs share one chart (lesson 01): progress counts every run's steps, time every run's time.
    const done = runs.reduce((sum, run) => sum + lastOf(run).step, 0);
    const elapsedMs = runs.reduce((sum, run) => sum + lastOf(run).elapsedMs, 0);
    const lossOf = (run: string) => {
      const losses = this.#steps.filter((r) => r.run === run).map((r) => r.loss);
      return `loss ${formatNumber(losses[losses.length - 1]!)} (mean of last ${Math.min(PROGRESS_MEAN_STEPS, losses.length)}: ${formatNumber(trailingMean(losses, PROGRESS_MEAN_STEPS))})`;
    };
    const evalOf = (run: string) => this.#evals.filter((r) => r.run === run).pop();
    if (this.#done) {
      const parts = ["done"];
      for (const run of runs) {
        const lastEval = evalOf(run);
        parts.push(`${run} ${lastOf(run).step} steps, ${lossOf(run)}${lastEval ? `, eval ${formatNumber(lastEval.loss)} @ ${lastEval.step}` : ""}`);
      }
      if (this.#finalTokensPerSecond !== undefined) parts.push(`${formatNumber(this.#finalTokensPerSecond, 3)} tok/s (mean over training steps)`);
      parts.push(`${formatDuration(elapsedMs)} in all`);
      if (!byLine || runs.length === 1) return byLine ? [parts.join(" · ")] : parts;
      // done · run 1 / run 2 / ... / tok/s · time, one run per subtitle line.
      const [head, ...rest] = parts;
      const tail = rest.slice(runs.length);
      return [...rest.slice(0, runs.length).map((line, i) => (i === 0 ? `${head} · ${line}` : line)), tail.join(" · ")];
    }
    const total = this.#options.totalSteps;
    const progress = total ? (runs.length > 1 ? ` · ${done}/${total} steps in all (${Math.round((100 * done) / total)}%)` : `/${total} (${Math.round((100 * last.step) / total)}%)`) : "";
    const parts = [`${last.run} · step ${last.step}${progress}`];
    parts.push(lossOf(last.run));
    if (Number.isFinite(last.tokensPerSecond)) parts.push(`${formatNumber(last.tokensPerSecond, 3)} tok/s (last step)`);
    parts.push(`${formatDuration(elapsedMs)} elapsed`);
    if (total && done > 0 && done < total) parts.push(`ETA ${formatDuration(((total - done) * elapsedMs) / done)}`);
    const lastEval = evalOf(last.run);
    if (lastEval) parts.push(`eval ${formatNumber(lastEval.loss)} @ ${lastEval.step}`);
    return byLine ? [parts.join(" · ")] : parts;
  }

  /** What has been sent so far. */
  stats(): LiveLossChartStats {
    return { ...this.#stats };
  }

  #maybeSend(): void {
    if (this.#finished || !this.#dirty) return;
    const now = this.#now();
    if (now - this.#lastSent < this.#interval) return;
    this.#lastSent = now;
    this.#dirty = false;
    if (this.#options.display) {
      const frame = this.#chart(this.#options.maxLivePoints ?? 500).withoutImage();
      if (this.#handle) this.#handle.update(frame);
      else this.#handle = this.#options.display(frame);
      this.#stats.updates++;
    } else {
      this.#print(this.progressLine());
    }
  }

  #print(line: string): void {
    this.#stats.printed++;
    if (this.#options.print) this.#options.print(line);
    else process.stdout.write(`${line}\n`);
  }
}

/** Creates a {@link LiveLossChart}: `const live = liveLossChart({ display, totalSteps: 100 })`. */
export function liveLossChart(options: LiveLossChartOptions = {}): LiveLossChart {
  return new LiveLossChart(options);
}
