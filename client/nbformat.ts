// Notebooks (nbformat 4), the one model of the format that `qlora-lab run` and the lessons' build share:
// the document's types, checking a file read from disk, saving in Jupyter's normalised form, turning a
// cell's IOPub messages into saved outputs the way nbclient does (streams merged, clear_output with
// wait, update_display_data by display_id), and a plain self-contained HTML rendering for `run --html`.
import { FileFormatError, expected } from "../lib/errors.js";
import type { JupyterMessage } from "../kernel/wire.js";

/** One saved output (nbformat 4). */
export type NotebookOutput =
  | { output_type: "stream"; name: string; text: string | string[] }
  | { output_type: "display_data"; data: Record<string, unknown>; metadata: Record<string, unknown> }
  | { output_type: "execute_result"; data: Record<string, unknown>; metadata: Record<string, unknown>; execution_count: number | null }
  | { output_type: "error"; ename: string; evalue: string; traceback: string[] };

/** A notebook cell. */
export interface NotebookCell {
  cell_type: "code" | "markdown" | "raw";
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: NotebookOutput[];
  execution_count?: number | null;
  id?: string;
}

/** The MIME bundle of an output that has one (display_data, execute_result), else an empty one. */
export function outputData(output: NotebookOutput): Record<string, unknown> {
  return "data" in output ? output.data : {};
}

/** A notebook file. */
export interface Notebook {
  cells: NotebookCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

/** Returns `value` as a notebook once its cells have the shape this client reads; `path` names it in errors. */
export function requireNotebook(value: unknown, path: string): Notebook {
  const cells = (value as { cells?: unknown } | null)?.cells;
  if (typeof value !== "object" || value === null || !Array.isArray(cells)) throw new FileFormatError(path, expected("a notebook with a cells array", Array.isArray(value) ? "an array" : typeof value === "object" && value ? "no cells array" : value));
  cells.forEach((cell: unknown, i) => {
    const at = `cell ${i + 1}`;
    if (typeof cell !== "object" || cell === null || Array.isArray(cell)) throw new FileFormatError(path, expected(`${at} to be an object`, cell));
    const { cell_type: type, source } = cell as { cell_type?: unknown; source?: unknown };
    if (type !== "code" && type !== "markdown" && type !== "raw") throw new FileFormatError(path, expected(`${at}'s cell_type to be "code", "markdown" or "raw"`, type));
    const text = typeof source === "string" || (Array.isArray(source) && source.every((line) => typeof line === "string"));
    if (!text) throw new FileFormatError(path, expected(`${at}'s source to be a string or a list of strings`, source));
  });
  return value as Notebook;
}

/** The cell's source as one string. */
export function cellSource(cell: NotebookCell): string {
  return joinLines(cell.source);
}

/** nbformat's multi-line text (a string or a list of lines) as one string. */
export function joinLines(text: string | string[]): string {
  return Array.isArray(text) ? text.join("") : text;
}

/** Splits text into Jupyter's list-of-lines form (each line keeps its newline). */
function toLines(text: string): string[] {
  return text.split(/(?<=\n)/).filter((l) => l.length > 0);
}

/**
 * The notebook as Jupyter saves it: sources and text outputs as line lists, no per-cell execution
 * timestamps (they only add noise to diffs), keys sorted, indent 1, a final newline.
 */
export function serializeNotebook(nb: Notebook): string {
  const cells = nb.cells.map((cell) => {
    const metadata = { ...cell.metadata };
    delete metadata.execution;
    const out: NotebookCell = { ...cell, metadata, source: toLines(joinLines(cell.source)) };
    if (cell.outputs) out.outputs = cell.outputs.map(outputAsLines);
    return out;
  });
  return `${JSON.stringify(sortKeys({ ...nb, cells }), null, 1)}\n`;
}

function outputAsLines(output: NotebookOutput): NotebookOutput {
  if (output.output_type === "stream") return { ...output, text: toLines(joinLines(output.text)) };
  if (output.output_type !== "display_data" && output.output_type !== "execute_result") return output;
  const data: Record<string, unknown> = {};
  for (const [mime, value] of Object.entries(output.data)) data[mime] = typeof value === "string" && (mime.startsWith("text/") || mime === "image/svg+xml") ? toLines(value) : value;
  return { ...output, data };
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
  return out;
}

/** Builds a cell's outputs from its IOPub messages, in order. */
export function outputsFromMessages(messages: readonly JupyterMessage[]): NotebookOutput[] {
  let outputs: NotebookOutput[] = [];
  const ids = new Map<string, NotebookOutput[]>();
  let clearPending = false;
  const add = (output: NotebookOutput) => {
    if (clearPending) {
      outputs = [];
      clearPending = false;
    }
    const last = outputs[outputs.length - 1];
    if (output.output_type === "stream" && last?.output_type === "stream" && last.name === output.name) last.text = joinLines(last.text) + joinLines(output.text);
    else outputs.push(output);
  };
  for (const message of messages) {
    const c = message.content as Record<string, unknown>;
    const transient = (c.transient ?? {}) as { display_id?: string };
    switch (message.header.msg_type) {
      case "stream":
        add({ output_type: "stream", name: String(c.name), text: String(c.text) });
        break;
      case "display_data": {
        const output: NotebookOutput = { output_type: "display_data", data: c.data as Record<string, unknown>, metadata: (c.metadata ?? {}) as Record<string, unknown> };
        add(output);
        if (transient.display_id) ids.set(transient.display_id, [...(ids.get(transient.display_id) ?? []), output]);
        break;
      }
      case "update_display_data":
        for (const output of transient.display_id ? (ids.get(transient.display_id) ?? []) : []) {
          if (output.output_type === "display_data") {
            output.data = c.data as Record<string, unknown>;
            output.metadata = (c.metadata ?? {}) as Record<string, unknown>;
          }
        }
        break;
      case "execute_result":
        add({ output_type: "execute_result", data: c.data as Record<string, unknown>, metadata: (c.metadata ?? {}) as Record<string, unknown>, execution_count: (c.execution_count as number) ?? null });
        break;
      case "error":
        add({ output_type: "error", ename: String(c.ename), evalue: String(c.evalue), traceback: c.traceback as string[] });
        break;
      case "clear_output":
        if (c.wait) clearPending = true;
        else outputs = [];
        break;
    }
  }
  return outputs;
}

/** A self-contained HTML page: Markdown rendered, code highlighted plainly, images inline. */
export function notebookToHtml(notebook: Notebook, title: string): string {
  const body = notebook.cells
    .map((cell) => {
      const source = cellSource(cell);
      if (cell.cell_type === "markdown") return `<div class="md">${markdownToHtml(source)}</div>`;
      if (cell.cell_type === "raw") return `<pre class="raw">${escape(source)}</pre>`;
      const count = cell.execution_count ?? " ";
      const outputs = (cell.outputs ?? []).map(outputToHtml).join("\n");
      return `<div class="cell"><div class="in"><span class="prompt">In [${count}]:</span><pre><code>${escape(source)}</code></pre></div>${outputs ? `<div class="out">${outputs}</div>` : ""}</div>`;
    })
    .join("\n");
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#1f2328;line-height:1.5}
pre{background:#f6f8fa;padding:.6em .8em;border-radius:6px;overflow-x:auto;font-size:13px}
.cell{margin:1em 0}.prompt{color:#3178c6;font:12px monospace}.out pre{background:#fff;border-left:3px solid #d0d7de}
.out .stderr{background:#fff5f5}.out .error{background:#fff0f0;border-left-color:#cf222e}
.out img{max-width:100%}table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:2px 6px}
</style></head><body>
${body}
</body></html>
`;
}

function outputToHtml(output: NotebookOutput): string {
  if (output.output_type === "stream") return `<pre class="${output.name}">${escape(joinLines(output.text))}</pre>`;
  if (output.output_type === "error") return `<pre class="error">${escape(output.traceback.join("\n") || `${output.ename}: ${output.evalue}`)}</pre>`;
  const data = output.data;
  if (typeof data["text/html"] === "string") return `<div>${data["text/html"]}</div>`;
  if (typeof data["image/png"] === "string") return `<img src="data:image/png;base64,${data["image/png"]}" alt="">`;
  if (typeof data["image/svg+xml"] === "string") return `<img src="data:image/svg+xml;base64,${Buffer.from(data["image/svg+xml"]).toString("base64")}" alt="">`;
  if (typeof data["text/markdown"] === "string") return `<div>${markdownToHtml(data["text/markdown"])}</div>`;
  if (data["application/json"] !== undefined) return `<pre>${escape(JSON.stringify(data["application/json"], null, 2))}</pre>`;
  return `<pre>${escape(String(data["text/plain"] ?? ""))}</pre>`;
}

/** Markdown for notebooks' prose: headings, paragraphs, lists, code, emphasis, links, images. */
export function markdownToHtml(markdown: string): string {
  const lines = markdown.replace(/\r\n/g, "\n").split("\n");
  const html: string[] = [];
  let paragraph: string[] = [];
  let list: { tag: "ul" | "ol"; items: string[] } | undefined;
  const flush = () => {
    if (paragraph.length) html.push(`<p>${inline(paragraph.join(" "))}</p>`);
    paragraph = [];
    if (list) html.push(`<${list.tag}>${list.items.map((i) => `<li>${inline(i)}</li>`).join("")}</${list.tag}>`);
    list = undefined;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = /^```(\w*)/.exec(line);
    if (fence) {
      flush();
      const code: string[] = [];
      for (i++; i < lines.length && !/^```/.test(lines[i]!); i++) code.push(lines[i]!);
      html.push(`<pre><code>${escape(code.join("\n"))}</code></pre>`);
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      html.push(`<h${heading[1]!.length}>${inline(heading[2]!)}</h${heading[1]!.length}>`);
    } else if (bullet || numbered) {
      const tag = bullet ? "ul" : "ol";
      if (paragraph.length || (list && list.tag !== tag)) flush();
      list ??= { tag, items: [] };
      list.items.push((bullet ?? numbered)![1]!);
    } else if (/^\s*$/.test(line)) flush();
    else if (/^(-{3,}|\*{3,})$/.test(line.trim())) {
      flush();
      html.push("<hr>");
    } else if (list && /^\s+/.test(line)) list.items[list.items.length - 1] += ` ${line.trim()}`;
    else paragraph.push(line.replace(/^>\s?/, ""));
  }
  flush();
  return html.join("\n");
}

function inline(text: string): string {
  const codes: string[] = [];
  let out = escape(text.replace(/`([^`]+)`/g, (_m, code: string) => `\u0000${codes.push(code) - 1}\u0000`));
  out = out
    .replace(/!\[([^\]]*)\]\(([^)\s]+)\)/g, (_m, alt: string, url: string) => (isSafeUrl(url, "image") ? `<img alt="${alt}" src="${url}">` : alt))
    .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_m, text: string, url: string) => (isSafeUrl(url, "link") ? `<a href="${url}">${text}</a>` : text))
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^*])\*([^*]+)\*/g, "$1<em>$2</em>")
    .replace(/\$([^$]+)\$/g, "<code>$1</code>");
  return out.replace(/\u0000(\d+)\u0000/g, (_m, i: string) => `<code>${escape(codes[Number(i)]!)}</code>`);
}

/**
 * Whether a Markdown link or image target may go into the page: relative paths, anchors, http(s),
 * mailto, and for images data:image/. A javascript: (or vbscript:, data:text/html, ...) link would
 * run script when clicked in a page that embeds the notebook's outputs; such links keep their text
 * only. Browsers drop control characters and spaces around a scheme, so the check does too.
 */
function isSafeUrl(url: string, kind: "link" | "image"): boolean {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url.replace(/[\u0000-\u0020\u007f]/g, ""))?.[1]?.toLowerCase();
  if (scheme === undefined) return true;
  if (scheme === "http" || scheme === "https") return true;
  if (kind === "link") return scheme === "mailto";
  return /^data:image\//i.test(url);
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
