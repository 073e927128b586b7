// Tables: HTML with escaped headers and cells, Markdown for text/plain, limits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JUPYTER_DISPLAY, table, toDisplayBundle } from "../../../lib/viz/index.js";

test("table escapes column names and cells in HTML and pipes in Markdown", () => {
  const t = table([{ "<b>x</b>": 1.23456789, "a|b": "<i>", n: 12345 }, { "<b>x</b>": 2, n: null }], { caption: "Demo & co" });
  const bundle = toDisplayBundle(t[JUPYTER_DISPLAY]());
  assert.deepEqual(Object.keys(bundle.data).sort(), ["text/html", "text/plain"]);
  const html = bundle.data["text/html"] as string;
  assert.ok(!html.includes("<b>") && !html.includes("<i>"), html);
  assert.match(html, /<th[^>]*>&lt;b&gt;x&lt;\/b&gt;<\/th>/);
  assert.match(html, /<td[^>]*>&lt;i&gt;<\/td>/);
  assert.match(html, /Demo &amp; co/);
  assert.match(html, /<td[^>]*>1\.235<\/td>/);
  assert.match(html, /<td[^>]*>12,345<\/td>/);
  const md = bundle.data["text/plain"] as string;
  assert.match(md, /^Demo & co\n\n\|<b>x<\/b>\|a\\\|b\|n\|\n/);
  assert.match(md, /\|1\.235\|<i>\|12,345\|/);
});

test("table limits rows, keeps column order, and rejects non-rows", () => {
  const rows = Array.from({ length: 30 }, (_, i) => ({ b: i, a: `r${i}` }));
  const t = table(rows, { limit: 5, columns: ["a", "b"] });
  assert.deepEqual(t.columns, ["a", "b"]);
  assert.equal((t.toHTML().match(/<tr><td/g) ?? []).length, 5);
  assert.match(t.toHTML(), /5 of 30 rows/);
  assert.equal(t.toMarkdown().split("\n").filter((l) => l.startsWith("|r")).length, 5);
  assert.throws(() => table([1] as never), /table: expected every row to be a plain object/);
});
