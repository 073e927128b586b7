// Renders a Vega-Lite spec to SVG and PNG in Node without a browser: vega-lite compile -> vega View
// (renderer "none") -> SVG string -> resvg with DejaVu Sans embedded. See shared notebook-display notes.
import { createRequire } from "node:module";
import * as vega from "vega";
import { compile } from "vega-lite";
import { Resvg } from "@resvg/resvg-js";
import { InvalidArgumentError, expected } from "../errors.js";
import { loadFontMetrics, type FontMetrics } from "./font_metrics.js";

/** A Vega-Lite spec as plain JSON (the builders in lib/viz produce v5 specs). */
export type VegaLiteSpec = { $schema: string } & Record<string, unknown>;

/** The `$schema` every chart carries: Vega-Lite 5, the version JupyterLab and VS Code render. */
export const VEGA_LITE_V5_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json";

/** The font family charts ask for; the PNG renderer embeds this exact font. */
export const CHART_FONT = "DejaVu Sans";

/** Paths of the TrueType files the PNG renderer embeds (regular and bold). */
export interface ChartFonts {
  regular: string;
  bold: string;
}

interface FontResources {
  files: ChartFonts;
  regular: FontMetrics;
  bold: FontMetrics;
}

/** Loads the font files and their metrics once; they are immutable, so sharing them is safe. */
const fontResources = (() => {
  let loaded: FontResources | undefined;
  return (): FontResources => {
    if (!loaded) {
      const require = createRequire(import.meta.url);
      const files = { regular: require.resolve("dejavu-fonts-ttf/ttf/DejaVuSans.ttf"), bold: require.resolve("dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf") };
      loaded = { files, regular: loadFontMetrics(files.regular), bold: loadFontMetrics(files.bold) };
    }
    return loaded;
  };
})();

/** The font files embedded into PNGs. */
export function chartFonts(): ChartFonts {
  return { ...fontResources().files };
}

/** True for Vega font weights that select the bold face. */
function isBold(weight: unknown): boolean {
  return weight === "bold" || weight === "bolder" || (typeof weight === "number" && weight >= 600) || (typeof weight === "string" && Number(weight) >= 600);
}

/** Vega's text measurement hook (vega-scenegraph's textMetrics). */
interface VegaTextMetrics {
  width: (item: Record<string, unknown>, text: unknown) => number;
}

/** Width in pixels of a Vega text item's text in the embedded font's advance widths (what Vega asks `vega.textMetrics.width`). */
export function chartTextWidth(item: Record<string, unknown>, text: unknown): number {
  const { regular, bold } = fontResources();
  const size = typeof item.fontSize === "number" ? item.fontSize : 11;
  const value = text == null ? "" : Array.isArray(text) ? text.join(" ") : String(text);
  return (isBold(item.fontWeight) ? bold : regular).measure(value, size);
}

/**
 * Runs the synchronous `fn` with Vega's text measurement (its supported hook, `vega.textMetrics.width`)
 * pointed at the embedded font, so labels are placed and truncated as they will be drawn (Vega alone
 * guesses 0.8 x fontSize per character), and gives Vega its own back afterwards: nothing global
 * outlives a render, and other Vega views in the process keep Vega's measurement.
 */
function withChartTextWidth<T>(fn: () => T): T {
  const metrics = (vega as unknown as { textMetrics: VegaTextMetrics }).textMetrics;
  const own = metrics.width;
  metrics.width = chartTextWidth;
  try {
    return fn();
  } finally {
    metrics.width = own;
  }
}

/** Compiles and renders `spec` to an SVG string, synchronously (inline data only). */
export function renderSvg(spec: VegaLiteSpec): string {
  if (typeof spec !== "object" || spec === null) throw new InvalidArgumentError("renderSvg", expected("a Vega-Lite spec object", spec));
  return withChartTextWidth(() => {
    // vega-lite's compile normalizes its input in place; compile a copy so the chart's spec stays as built.
    const compiled = compile(structuredClone(spec) as never).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: "none" });
    try {
      view.run();
      // What view.toSVG() does, without its await: the same renderer on the same scenegraph.
      const internals = view as unknown as { _viewWidth: number; _viewHeight: number; _origin: [number, number] };
      const padding = view.padding() as { left: number; right: number; top: number; bottom: number };
      const width = Math.max(0, internals._viewWidth + padding.left + padding.right);
      const height = Math.max(0, internals._viewHeight + padding.top + padding.bottom);
      const origin = [padding.left + internals._origin[0], padding.top + internals._origin[1]];
      const Renderer = (vega as unknown as { SVGStringRenderer: new (loader: unknown) => SvgStringRenderer }).SVGStringRenderer;
      const renderer = new Renderer(view.loader()).initialize(null, width, height, origin).background(view.background());
      renderer.render((view.scenegraph() as unknown as { root: unknown }).root);
      return renderer.svg();
    } finally {
      view.finalize();
    }
  });
}

interface SvgStringRenderer {
  initialize(el: null, width: number, height: number, origin: number[]): SvgStringRenderer;
  background(color: unknown): SvgStringRenderer;
  render(scene: unknown): SvgStringRenderer;
  svg(): string;
}

/** A rasterized chart: PNG bytes plus its size in CSS pixels (the PNG holds scale x that). */
export interface RenderedPng {
  png: Uint8Array;
  /** Logical width (CSS pixels) = the SVG's width. */
  width: number;
  height: number;
  /** Raw RGBA pixels of the PNG (width*scale x height*scale x 4). */
  pixels?: Uint8Array;
}

/** Rasterizes an SVG string with the embedded font at `scale` (2 = crisp on high-DPI screens). */
export function svgToPng(svg: string, options: { scale?: number; keepPixels?: boolean } = {}): RenderedPng {
  const scale = options.scale ?? 2;
  if (!(scale > 0 && scale <= 8)) throw new InvalidArgumentError("svgToPng", expected("a scale in (0, 8]", scale));
  const { files } = fontResources();
  const resvg = new Resvg(svg, {
    font: { loadSystemFonts: false, fontFiles: [files.regular, files.bold], defaultFontFamily: CHART_FONT, sansSerifFamily: CHART_FONT },
    fitTo: { mode: "zoom", value: scale },
    background: "white",
    logLevel: "off",
  });
  const width = resvg.width;
  const height = resvg.height;
  const image = resvg.render();
  return { png: new Uint8Array(image.asPng()), width, height, ...(options.keepPixels ? { pixels: new Uint8Array(image.pixels) } : {}) };
}
