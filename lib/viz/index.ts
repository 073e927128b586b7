// lib/viz's public surface.
export { JUPYTER_DISPLAY, isDisplayable, toDisplayBundle, type Displayable, type DisplayBundle, type DisplayFunction, type DisplayHandle, type MimeBundle } from "./display.js";

// Rendering and the chart value
export { renderSvg, svgToPng, chartFonts, chartTextWidth, VEGA_LITE_V5_SCHEMA, CHART_FONT, type VegaLiteSpec, type RenderedPng, type ChartFonts } from "./render.js";
export { loadFontMetrics, type FontMetrics } from "./font_metrics.js";
export { Chart, VEGA_LITE_MIME, chartConfig, topLevelSpec } from "./chart.js";
export { panel, type PanelOptions } from "./panel.js";
export { table, Table, escapeHtml, type TableOptions } from "./table.js";

// Palette and formatting
export { MEMORY_CATEGORY_COLORS, MEMORY_CATEGORY_LABELS, RUN_COLORS, QUANT_TYPE_COLORS, MERGE_METHOD_COLORS, SERIES_COLORS, colorScale, memoryColorScale } from "./palette.js";
export { formatBytes, formatNumber, formatDuration, chooseByteUnit, type ByteUnit } from "../format.js";

// Input records the charts draw from
export type {
  MemorySnapshot,
  MemoryTimelinePoint,
  LayerMemoryRow,
  PlannerRow,
  GpuSpec,
  CodebookLevels,
  BlockErrorSeries,
  CodeUsageSeries,
  MergeComparisonRow,
  DeltaSurvivalRow,
} from "./records.js";

// Charts
export { lossChart, lossChartSpec, emaSmooth, centredMovingAverage, defaultWindow, trailingMean, type LossChartOptions } from "./loss_chart.js";
export { liveLossChart, LiveLossChart, type LiveLossChartOptions, type LiveLossChartStats, type FinishedRunSummary } from "./live_loss_chart.js";
export { memoryChart, type MemoryChartOptions } from "./memory_bar.js";
export { memoryTimelineChart, type MemoryTimelineOptions } from "./memory_timeline.js";
export { layerMemoryChart, type LayerMemoryOptions } from "./layer_map.js";
export { plannerChart, DEFAULT_GPUS, type PlannerChartOptions } from "./planner_chart.js";
export { quantHistogramChart, blockErrorChart, codeUsageChart, histogramBins, levelLayout, type LevelLayout, type QuantHistogramOptions, type QuantChartOptions } from "./quant_charts.js";
export { mergeComparison, shortLayerName, MergeComparison, type MergeComparisonOptions } from "./merge_comparison.js";
export { pagingChart, type PagingChartOptions } from "./paging_chart.js";
export { initResidualChart, seedSpreadChart, type InitResidualRow, type InitResidualChartOptions, type SeedSpreadRow, type SeedSpreadChartOptions } from "./init_charts.js";
export { trainingReportHtml, type TrainingReportInput } from "./training_report.js";
