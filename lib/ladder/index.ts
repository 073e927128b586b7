// lib/ladder's public surface: the ladder run, its saved runs, its charts and its table rows.
export { runLadder, DEFAULT_LADDER_SIZES, MEMORY_TIERS_GIB, LADDER_METHODS, SHIPPED_RUNG, type LadderOptions, type LadderProgress, type LadderResult, type LadderRung, type LadderMethod, type PlannedRow, type TierFit, type Spread } from "./ladder.js";
export { ladderMemoryChart, ladderSpeedChart, LADDER_METHOD_LABELS, type LadderMemoryChartOptions, type LadderSpeedChartOptions } from "./charts.js";
export { ladderRows } from "./rows.js";
export { shippedLadderRun, shippedLadderRunNames } from "./shipped_runs.js";
export { liveLadderChart, type LiveLadderChartOptions } from "./live_chart.js";
