// Drives a real front end: Debian's classic Jupyter Notebook server and headless Chromium (through
// playwright-core) open a notebook, check the kernel, clear the saved outputs, run every cell from
// the Cell menu, wait for the kernel to go idle, and read back what the page shows.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { chromium, type Page } from "playwright-core";

// The page functions below run in Chromium; the project compiles without the DOM library, so this
// module declares the little of the DOM they touch (module scope: nothing leaks into other files).
interface PageElement {
  textContent: string | null;
  classList: { contains(name: string): boolean };
  querySelectorAll(selector: string): Iterable<PageElement>;
  getBoundingClientRect(): { width: number; height: number };
}
interface PageImage extends PageElement {
  complete: boolean;
  naturalWidth: number;
  naturalHeight: number;
  src: string;
}
declare const document: { querySelector(selector: string): PageElement | null; querySelectorAll(selector: string): Iterable<PageElement> };

/** Where the browser test finds its programs (Debian's packages). */
export const JUPYTER_NOTEBOOK = process.env.QLORA_LAB_JUPYTER_NOTEBOOK ?? "/usr/bin/jupyter-notebook";
export const CHROMIUM = process.env.QLORA_LAB_CHROMIUM ?? "/usr/bin/chromium";

/** Headless, offline, no first-run chrome: the flags both browser drivers launch Chromium with. */
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** What to open and how long to wait. */
export interface BrowserRunOptions {
  /** Folder the server serves (the notebook path is relative to it). */
  root: string;
  /** Notebook path relative to `root`, e.g. "notebooks/01-lora-vs-qlora.ipynb". */
  notebook: string;
  /** Kernelspec name and display name that must be selected. */
  kernelName: string;
  kernelDisplayName: string;
  /** Environment for the server (JUPYTER_PATH pointing at the registered kernel). */
  env: NodeJS.ProcessEnv;
  /** Where to save the full-page screenshot. */
  screenshot: string;
  /** Seconds to wait for all cells to finish. */
  limitS: number;
  /** Progress lines (e.g. t.diagnostic). */
  log?: (line: string) => void;
}

/** What the page showed after Run All. */
export interface BrowserRunResult {
  kernelShown: string;
  codeCells: number;
  prompts: string[];
  seconds: number;
  images: { width: number; height: number; naturalWidth: number; naturalHeight: number; src: string }[];
  tables: { text: string; rows: string[][] }[];
  errors: string[];
  stderr: string[];
  screenshot: string;
}

/** A TCP port on 127.0.0.1 that nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers 200, failing early with the server's log if `server` (named `label`) exits. */
export async function waitForServer(label: string, url: string, server: ChildProcess, log: () => string, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`${label} exited with ${server.exitCode}:\n${log()}`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${label} did not answer ${url.replace(/token=\w+/, "token=...")} within ${limitMs} ms:\n${log()}`);
}

/** Clicks a menu item of the classic notebook's menu bar (e.g. "#celllink" then "#run_all_cells"). */
async function menu(page: Page, top: string, ...items: string[]): Promise<void> {
  await page.click(top);
  for (const [index, item] of items.entries()) {
    await page.hover(`${item} > a`);
    if (index === items.length - 1) await page.click(`${item} > a`);
  }
}

/** A Jupyter server (classic notebook or JupyterLab) on a free port with a fresh token, in a process group of its own. */
export interface JupyterServer {
  /** http://127.0.0.1:PORT */
  base: string;
  token: string;
  /** The server's last output, for error messages. */
  log(): string;
  /** Stops the server's process group and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts `program` with `args(port, token)` (plus --allow-root as root) and waits until it answers. */
export async function startJupyterServer(label: string, program: string, args: (port: number, token: string) => string[], env: NodeJS.ProcessEnv): Promise<JupyterServer> {
  const port = await freePort();
  const token = randomBytes(24).toString("hex");
  let serverLog = "";
  const server = spawn(program, [...args(port, token), ...(process.getuid?.() === 0 ? ["--allow-root"] : [])], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const keep = (chunk: Buffer) => {
    serverLog = (serverLog + chunk.toString("utf8")).slice(-20_000);
  };
  server.stdout!.on("data", keep);
  server.stderr!.on("data", keep);
  const stop = async () => {
    try {
      process.kill(-server.pid!, "SIGTERM");
    } catch {
      server.kill("SIGTERM");
    }
    await new Promise((r) => (server.exitCode !== null ? r(null) : server.once("exit", r)));
  };
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitForServer(label, `${base}/api/status?token=${token}`, server, () => serverLog, 60_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { base, token, log: () => serverLog, stop };
}

/** Opens the notebook in a real browser, runs all cells through the UI, and reports what the page shows. */
export async function runNotebookInBrowser(options: BrowserRunOptions): Promise<BrowserRunResult> {
  const log = options.log ?? (() => {});
  const { base, token, stop } = await startJupyterServer("jupyter-notebook", JUPYTER_NOTEBOOK, (port, token) => ["--no-browser", "--ip=127.0.0.1", `--port=${port}`, "--port-retries=0", `--NotebookApp.token=${token}`, `--notebook-dir=${options.root}`], options.env);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    log(`jupyter-notebook is serving on ${base}`);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const consoleErrors: string[] = [];
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    await page.goto(`${base}/notebooks/${options.notebook}?token=${token}`);
    await page.waitForSelector("#notebook-container .cell", { timeout: 60_000 });

    // The kernel named in the notebook's metadata starts by itself; switch to it through the menu if not.
    const indicator = page.locator(".kernel_indicator_name");
    await page.waitForSelector("#kernel_indicator_icon.kernel_idle_icon", { timeout: 120_000 }).catch(() => {});
    let kernelShown = ((await indicator.textContent()) ?? "").trim();
    if (kernelShown !== options.kernelDisplayName) {
      log(`kernel shown is "${kernelShown}"; choosing ${options.kernelDisplayName} from Kernel > Change kernel`);
      const dialog = page.locator(".modal-dialog button.btn-primary");
      if (await dialog.count()) await dialog.first().click();
      await menu(page, "#kernellink", "#menu-change-kernel", `#kernel-submenu-${options.kernelName}`);
      await page.waitForFunction((name) => document.querySelector(".kernel_indicator_name")?.textContent?.trim() === name, options.kernelDisplayName, { timeout: 60_000 });
      kernelShown = ((await indicator.textContent()) ?? "").trim();
    }
    await page.waitForSelector("#kernel_indicator_icon.kernel_idle_icon", { timeout: 120_000 });
    log(`kernel "${kernelShown}" is idle`);

    // Clear the saved outputs first, so everything asserted afterwards was produced by this run.
    await menu(page, "#celllink", "#all_outputs", "#clear_all_output");
    await page.waitForFunction(() => [...document.querySelectorAll(".output_area")].length === 0, undefined, { timeout: 30_000 });

    const started = Date.now();
    await menu(page, "#celllink", "#run_all_cells");
    const codeCells = await page.locator(".code_cell").count();
    // Done when every code cell shows "In [n]:" and the kernel is idle again.
    await page.waitForFunction(
      () => {
        const prompts = [...document.querySelectorAll(".code_cell .input_prompt")].map((p) => p.textContent ?? "");
        const allRan = prompts.length > 0 && prompts.every((p) => /\[\d+\]/.test(p));
        const idle = document.querySelector("#kernel_indicator_icon")?.classList.contains("kernel_idle_icon") ?? false;
        const errored = document.querySelector(".output_error") !== null;
        return (allRan && idle) || errored;
      },
      undefined,
      { timeout: options.limitS * 1000, polling: 500 },
    );
    const seconds = (Date.now() - started) / 1000;
    // Let the last images decode before measuring and photographing them.
    await page.waitForFunction(() => [...document.querySelectorAll(".output_area img")].every((img) => (img as PageImage).complete), undefined, { timeout: 30_000 });
    log(`all ${codeCells} code cells ran in ${seconds.toFixed(1)} s`);

    const result = await page.evaluate(() => {
      const images = [...document.querySelectorAll(".output_area img")].map((node) => {
        const img = node as PageImage;
        const box = img.getBoundingClientRect();
        return { width: box.width, height: box.height, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight, src: img.src.slice(0, 30) };
      });
      const tables = [...document.querySelectorAll(".output_area table")].map((table) => ({
        text: table.textContent ?? "",
        rows: [...table.querySelectorAll("tr")].map((tr) => [...tr.querySelectorAll("th,td")].map((c) => (c.textContent ?? "").trim())),
      }));
      const errors = [...document.querySelectorAll(".output_error")].map((e) => (e.textContent ?? "").slice(0, 2000));
      const stderr = [...document.querySelectorAll(".output_stderr")].map((e) => (e.textContent ?? "").slice(0, 2000));
      const prompts = [...document.querySelectorAll(".code_cell .input_prompt")].map((p) => (p.textContent ?? "").trim());
      return { images, tables, errors, stderr, prompts };
    });
    // The classic notebook scrolls inside #site, so a full-page shot would hold one screen: grow the
    // viewport to the whole notebook first, so the picture shows every chart and table.
    const notebookHeight = await page.evaluate(() => document.querySelector("#notebook")?.getBoundingClientRect().height ?? 0);
    await page.setViewportSize({ width: 1280, height: Math.min(Math.ceil(notebookHeight) + 200, 16_000) });
    await page.waitForTimeout(500);
    await page.screenshot({ path: options.screenshot, fullPage: true });
    if (consoleErrors.length > 0) log(`page errors: ${consoleErrors.join(" | ")}`);
    return { kernelShown, codeCells, seconds, screenshot: options.screenshot, ...result };
  } finally {
    await browser.close();
    await stop();
  }
}
