// The ladder's live view in a notebook: one output that redraws the memory chart as each rung ends,
// its title saying which rung runs and in what phase; without a display, one progress line per event.
// Intermediate updates carry the Vega-Lite spec only, the final one also the PNG.
import type { DisplayFunction, DisplayHandle } from "../viz/display.js";
import type { Chart } from "../viz/chart.js";
import { ladderMemoryChart } from "./charts.js";
import type { LadderProgress, LadderResult, LadderRung } from "./ladder.js";

/** Options of {@link liveLadderChart}. */
export interface LiveLadderChartOptions {
  /** The notebook's display function (the kernel puts `display` in scope). Without it, progress prints. */
  display?: DisplayFunction;
  /** Where progress lines go without a display. Default: console.log. */
  print?: (line: string) => void;
}

/** A live ladder view: pass `onProgress` to runLadder, then `finish(result)` for the final chart. */
export function liveLadderChart(options: LiveLadderChartOptions = {}): { onProgress: (event: LadderProgress) => void; finish: (result: LadderResult) => Chart } {
  const rungs: LadderRung[] = [];
  const print = options.print ?? ((line: string) => console.log(line));
  let handle: DisplayHandle | undefined;
  const show = (value: unknown) => {
    if (!options.display) return;
    if (handle) handle.update(value);
    else handle = options.display(value);
  };
  const onProgress = (event: LadderProgress) => {
    if (event.rung) rungs.push(event.rung);
    const title = `Ladder: rung ${event.index + 1} of ${event.total}, ${event.model} ${event.method}: ${event.rung ? event.rung.status : event.phase}`;
    if (!options.display) {
      print(title);
      return;
    }
    // Only ended rungs are drawn; before the first ends, the title alone says what runs.
    if (rungs.length > 0) show(ladderMemoryChart({ rungs, planned: [] } as unknown as LadderResult, { title }).withoutImage());
  };
  const finish = (result: LadderResult) => {
    const chart = ladderMemoryChart(result);
    show(chart);
    if (!options.display) print(chart.summary);
    return chart;
  };
  return { onProgress, finish };
}
