// Drives JupyterLab 4 in headless Chromium (playwright-core): opens a notebook, checks the kernel, clears
// the saved outputs, runs every cell from the Run menu, waits for the kernel to go idle, and reads back
// what the page shows, above all whether each Vega-Lite output was drawn by JupyterLab's own renderer.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, startJupyterServer } from "./browser_driver.js";

// The page functions below run in Chromium; the project compiles without the DOM library, so this
// module declares the little of the DOM they touch (module scope: nothing leaks into other files).
interface LabElement {
  textContent: string | null;
  tagName: string;
  scrollHeight: number;
  scrollTop: number;
  getAttribute(name: string): string | null;
  querySelector(selector: string): LabElement | null;
  querySelectorAll(selector: string): Iterable<LabElement>;
  getBoundingClientRect(): { width: number; height: number };
}
interface LabCanvas extends LabElement {
  width: number;
  height: number;
  getContext(kind: "2d"): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null;
}
declare const document: { querySelector(selector: string): LabElement | null; querySelectorAll(selector: string): Iterable<LabElement> };

/** Where the JupyterLab test finds `jupyter-lab`: QLORA_LAB_JUPYTER_LAB, else the venv `.ci/run` makes. */
export const JUPYTER_LAB =
  process.env.QLORA_LAB_JUPYTER_LAB ??
  join(process.env.QLORA_LAB_JUPYTERLAB_VENV ?? join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? "/", ".cache"), "qlora-lab", "jupyterlab"), "bin", "jupyter-lab");

/** What to open and how long to wait. */
export interface LabRunOptions {
  /** Folder the server serves (the notebook path is relative to it). */
  root: string;
  /** Notebook path relative to `root`, e.g. "notebooks/01-lora-vs-qlora.ipynb". */
  notebook: string;
  /** Display name of the kernel that must be selected. */
  kernelDisplayName: string;
  /** Environment for the server (JUPYTER_PATH pointing at the registered kernel, a throwaway JUPYTER_CONFIG_DIR). */
  env: NodeJS.ProcessEnv;
  /** Folder for the screenshots: the whole notebook, and each chart on its own. */
  screenshots: string;
  /** Name the screenshots start with. */
  name: string;
  /** Seconds to wait for all cells to finish. */
  limitS: number;
  /** Progress lines (e.g. t.diagnostic). */
  log?: (line: string) => void;
}

/** One Vega-Lite output as the page shows it. */
export interface LabVegaOutput {
  /** "svg" or "canvas" when vega-embed drew the chart; "none" when the output holds neither. */
  drawnAs: "svg" | "canvas" | "none";
  width: number;
  height: number;
  /** How much was drawn: SVG marks (paths, text, lines, rects), or distinct colours in the canvas. */
  ink: number;
}

/** What the page showed after Run All. */
export interface LabRunResult {
  kernelShown: string;
  codeCells: number;
  prompts: string[];
  seconds: number;
  vega: LabVegaOutput[];
  /** PNG outputs the page shows (a Vega-Lite bundle rendered natively shows none of its PNG). */
  pngOutputs: number;
  tables: { rows: string[][] }[];
  errors: string[];
  stderr: string[];
  pageErrors: string[];
  screenshots: string[];
}

/**
 * User settings for this throwaway JupyterLab: every cell attached to the page (so a chart scrolled out of
 * view is still in the DOM to check), and no news or update checks, which would pop up over the notebook.
 */
function writeLabSettings(configDir: string): void {
  const settings = join(configDir, "lab", "user-settings", "@jupyterlab");
  const write = (file: string, value: object) => {
    mkdirSync(join(settings, file, ".."), { recursive: true });
    writeFileSync(join(settings, file), JSON.stringify(value, null, 2));
  };
  write("notebook-extension/tracker.jupyterlab-settings", { windowingMode: "none" });
  write("apputils-extension/notification.jupyterlab-settings", { fetchNews: "false", checkForUpdates: false });
}

/** Clicks a top-level menu, then one of its items, by their labels (e.g. "Run", "Run All Cells"). */
async function menu(page: Page, top: string, item: string): Promise<void> {
  await page.locator(".lm-MenuBar-itemLabel", { hasText: new RegExp(`^${top}$`) }).click();
  await page.locator(".lm-Menu-itemLabel", { hasText: new RegExp(`^${item}$`) }).click();
}

/** Opens the notebook in JupyterLab, runs all cells through the UI, and reports what the page shows. */
export async function runNotebookInJupyterLab(options: LabRunOptions): Promise<LabRunResult> {
  const log = options.log ?? (() => {});
  const configDir = options.env.JUPYTER_CONFIG_DIR;
  if (!configDir) throw new Error("runNotebookInJupyterLab: expected env.JUPYTER_CONFIG_DIR (a throwaway folder for JupyterLab's settings), got none");
  writeLabSettings(configDir);
  mkdirSync(options.screenshots, { recursive: true });

  const { base, token, stop } = await startJupyterServer("jupyter-lab", JUPYTER_LAB, (port, token) => ["--no-browser", "--ip=127.0.0.1", `--port=${port}`, "--port-retries=0", `--IdentityProvider.token=${token}`, `--ServerApp.root_dir=${options.root}`], options.env);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    log(`jupyter-lab is serving on ${base}`);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(`${base}/lab/tree/${options.notebook}?token=${token}`);
    await page.waitForSelector(".jp-NotebookPanel .jp-Cell", { timeout: 120_000 });

    // The kernel named in the notebook's metadata starts by itself; if JupyterLab asks instead, pick ours.
    const kernelDialog = page.locator(".jp-Dialog select");
    if (await kernelDialog.count()) {
      log(`JupyterLab asks for a kernel; choosing ${options.kernelDisplayName}`);
      await kernelDialog.selectOption({ label: options.kernelDisplayName });
      await page.locator(".jp-Dialog .jp-mod-accept").click();
    }
    // The toolbar says "No Kernel" (and "idle") until the session has its kernel: wait for the name first.
    await page
      .waitForFunction((name) => document.querySelector(".jp-NotebookPanel .jp-Toolbar-kernelName")?.textContent?.trim() === name, options.kernelDisplayName, { timeout: 120_000 })
      .catch(() => log(`the toolbar did not name ${options.kernelDisplayName} within 120 s`));
    await page.waitForSelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]', { timeout: 120_000 });
    const kernelShown = ((await page.locator(".jp-NotebookPanel .jp-Toolbar-kernelName").first().textContent()) ?? "").trim();
    log(`kernel "${kernelShown}" is idle`);

    // Clear the saved outputs first, so everything asserted afterwards was produced by this run.
    await page.locator(".jp-NotebookPanel .jp-Cell").first().click();
    await menu(page, "Edit", "Clear Outputs of All Cells");
    await page.waitForFunction(() => [...document.querySelectorAll(".jp-NotebookPanel .jp-OutputArea-output")].length === 0, undefined, { timeout: 30_000 });

    const started = Date.now();
    await menu(page, "Run", "Run All Cells");
    const codeCells = await page.locator(".jp-NotebookPanel .jp-CodeCell").count();
    // Done when every code cell shows "[n]:" and the kernel is idle again (or a cell shows an error).
    await page.waitForFunction(
      () => {
        const prompts = [...document.querySelectorAll(".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt")].map((p) => p.textContent ?? "");
        const allRan = prompts.length > 0 && prompts.every((p) => /\[\d+\]/.test(p));
        const idle = document.querySelector(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator")?.getAttribute("data-status") === "idle";
        const errored = document.querySelector('.jp-NotebookPanel [data-mime-type="application/vnd.jupyter.error"]') !== null;
        return (allRan && idle) || errored;
      },
      undefined,
      { timeout: options.limitS * 1000, polling: 500 },
    );
    const seconds = (Date.now() - started) / 1000;
    log(`all ${codeCells} code cells ran in ${seconds.toFixed(1)} s`);
    // vega-embed draws asynchronously after the output arrives: give each chart a moment to appear.
    await page
      .waitForFunction(() => [...document.querySelectorAll(".jp-NotebookPanel .jp-RenderedVegaCommon5")].every((v) => v.querySelector("svg.marks, canvas.marks") !== null), undefined, { timeout: 30_000 })
      .catch(() => log("some Vega-Lite outputs show no chart after 30 s"));

    // No named functions inside: tsx would wrap them in a helper the page does not have.
    const result = await page.evaluate((panel) => {
      const vega = [...document.querySelectorAll(`${panel} .jp-RenderedVegaCommon5`)].map((output) => {
        const drawn = output.querySelector("svg.marks, canvas.marks");
        const box = drawn?.getBoundingClientRect() ?? { width: 0, height: 0 };
        let ink = 0;
        if (drawn?.tagName.toLowerCase() === "svg") {
          ink = [...drawn.querySelectorAll("path, text, line, rect")].length;
        } else if (drawn) {
          const canvas = drawn as LabCanvas;
          const pixels = canvas.getContext("2d")?.getImageData(0, 0, canvas.width, canvas.height).data ?? [];
          const colours = new Set<number>();
          for (let i = 0; i < pixels.length; i += 4) colours.add(((pixels[i]! << 24) | (pixels[i + 1]! << 16) | (pixels[i + 2]! << 8) | pixels[i + 3]!) >>> 0);
          ink = colours.size;
        }
        return {
          drawnAs: (drawn ? drawn.tagName.toLowerCase() : "none") as "svg" | "canvas" | "none",
          width: box.width,
          height: box.height,
          ink,
        };
      });
      const pngOutputs = [...document.querySelectorAll(`${panel} .jp-OutputArea-output[data-mime-type="image/png"]`)].length;
      const tables = [...document.querySelectorAll(`${panel} .jp-OutputArea-output table`)].map((table) => ({
        rows: [...table.querySelectorAll("tr")].map((tr) => [...tr.querySelectorAll("th,td")].map((c) => (c.textContent ?? "").trim())),
      }));
      const errors = [...document.querySelectorAll(`${panel} [data-mime-type="application/vnd.jupyter.error"]`)].map((e) => (e.textContent ?? "").slice(0, 2000));
      const stderr = [...document.querySelectorAll(`${panel} [data-mime-type="application/vnd.jupyter.stderr"]`)].map((e) => (e.textContent ?? "").slice(0, 2000));
      const prompts = [...document.querySelectorAll(`${panel} .jp-CodeCell .jp-InputPrompt`)].map((p) => (p.textContent ?? "").trim());
      return { vega, pngOutputs, tables, errors, stderr, prompts };
    }, ".jp-NotebookPanel");

    // JupyterLab scrolls inside the notebook panel, so a page shot would hold one screen: grow the
    // viewport to the whole notebook first, so the picture shows every chart and table.
    const screenshots: string[] = [];
    const notebookHeight = await page.evaluate(() => document.querySelector(".jp-NotebookPanel .jp-WindowedPanel-outer")?.scrollHeight ?? 0);
    await page.setViewportSize({ width: 1280, height: Math.min(Math.ceil(notebookHeight) + 300, 16_000) });
    // Run All leaves the panel scrolled to the last cell; start the picture at the first.
    await page.evaluate(() => {
      const scroller = document.querySelector(".jp-NotebookPanel .jp-WindowedPanel-outer");
      if (scroller) scroller.scrollTop = 0;
    });
    await page.waitForTimeout(1000);
    const whole = join(options.screenshots, `${options.name}-jupyterlab.png`);
    await page.screenshot({ path: whole, fullPage: true });
    screenshots.push(whole);
    const charts = page.locator(".jp-NotebookPanel .jp-RenderedVegaCommon5");
    for (let i = 0; i < (await charts.count()); i++) {
      const shot = join(options.screenshots, `${options.name}-jupyterlab-chart-${i + 1}.png`);
      await charts.nth(i).screenshot({ path: shot });
      screenshots.push(shot);
    }
    return { kernelShown, codeCells, seconds, pageErrors, screenshots, ...result };
  } finally {
    await browser.close();
    await stop();
  }
}
