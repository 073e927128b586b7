// The displayable chart value every builder returns: a Vega-Lite spec plus a one-line summary,
// rendered on demand to SVG/PNG and to the notebook bundle (Vega-Lite v5 + PNG + text/plain).
import { extname } from "node:path";
import { writeFileAtomic } from "../io/atomic_write.js";
import { InvalidArgumentError, expected } from "../errors.js";
import { JUPYTER_DISPLAY, type DisplayBundle, type Displayable } from "./display.js";
import { CHART_FONT, VEGA_LITE_V5_SCHEMA, renderSvg, svgToPng, type RenderedPng, type VegaLiteSpec } from "./render.js";

/** MIME type of the Vega-Lite spec in a bundle (v5: what JupyterLab 4 and VS Code render). */
export const VEGA_LITE_MIME = "application/vnd.vegalite.v5+json";

/** The look shared by every chart: embedded font, readable sizes, white background. */
export function chartConfig(): Record<string, unknown> {
  return {
    font: `${CHART_FONT}, Helvetica, Arial, sans-serif`,
    background: "white",
    title: { fontSize: 14, subtitleFontSize: 11, subtitleColor: "#555555", anchor: "start", offset: 8 },
    axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: "normal", gridColor: "#e6e6e6" },
    legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: "normal", labelLimit: 240 },
    header: { labelFontSize: 12, titleFontSize: 12 },
    view: { stroke: "#dddddd" },
  };
}

/** Wraps a spec body with the v5 `$schema`, shared config and inline-only conventions. */
export function topLevelSpec(body: Record<string, unknown>): VegaLiteSpec {
  return { $schema: VEGA_LITE_V5_SCHEMA, config: chartConfig(), ...body };
}

/** A chart that renders itself in notebooks (Vega-Lite + PNG) and to files outside them. */
export class Chart implements Displayable {
  #svg: string | undefined;
  #png: RenderedPng | undefined;

  constructor(
    /** The Vega-Lite v5 spec (plain JSON; safe to serialize or edit a copy). */
    readonly spec: VegaLiteSpec,
    /** A one-line summary for terminals, logs and text/plain. */
    readonly summary: string,
  ) {}

  /** The chart as an SVG string (text laid out with the embedded font's widths). */
  toSVG(): string {
    this.#svg ??= renderSvg(this.spec);
    return this.#svg;
  }

  /** The chart as PNG bytes at `scale` (default 2) plus its logical size. */
  render(scale = 2): RenderedPng {
    if (scale !== 2) return svgToPng(this.toSVG(), { scale });
    this.#png ??= svgToPng(this.toSVG(), { scale: 2 });
    return this.#png;
  }

  /** The chart as PNG bytes at 2x scale. */
  toPNG(): Uint8Array {
    return this.render().png;
  }

  /** Writes the chart atomically; the format follows the extension: .png, .svg, or .json (the spec). */
  save(path: string): void {
    const ext = extname(path).toLowerCase();
    if (ext === ".png") writeFileAtomic(path, this.toPNG());
    else if (ext === ".svg") writeFileAtomic(path, this.toSVG());
    else if (ext === ".json") writeFileAtomic(path, `${JSON.stringify(this.spec, null, 2)}\n`);
    else throw new InvalidArgumentError("Chart.save", expected("a path ending in .png, .svg or .json", path));
  }

  /** The notebook bundle; `image: false` leaves the PNG out (for fast intermediate live updates). */
  toBundle(options: { image?: boolean } = {}): DisplayBundle {
    const data: Record<string, unknown> = { [VEGA_LITE_MIME]: this.spec, "text/plain": this.summary };
    if (options.image === false) return { data, metadata: {} };
    const { png, width, height } = this.render();
    data["image/png"] = Buffer.from(png).toString("base64");
    return { data, metadata: { "image/png": { width, height } } };
  }

  /** A displayable of this chart without the PNG (Vega-Lite + text/plain only). */
  withoutImage(): Displayable {
    return { [JUPYTER_DISPLAY]: () => this.toBundle({ image: false }) };
  }

  [JUPYTER_DISPLAY](): DisplayBundle {
    return this.toBundle();
  }

  toString(): string {
    return this.summary;
  }
}
