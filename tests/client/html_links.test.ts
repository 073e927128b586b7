// The HTML export (`qlora-lab run --html`) renders notebook Markdown; links and images that would
// run script in the page (javascript:, vbscript:, data:text/html, however cased or padded) keep
// their text only, while ordinary links and inline images stay.
import { test } from "node:test";
import assert from "node:assert/strict";
import { markdownToHtml, notebookToHtml } from "../../client/nbformat.js";

test("script links and images are neutralised, whatever their case or leading control characters", () => {
  for (const url of ["javascript:alert(1)", "JavaScript:alert(1)", "\u0001javascript:alert(1)", "vbscript:msgbox(1)", "data:text/html,<script>alert(1)</script>"]) {
    const html = markdownToHtml(`[click](${url}) and ![pic](${url})`);
    assert.doesNotMatch(html, /href=|src=/, `${JSON.stringify(url)} -> ${html}`);
    assert.match(html, /click/);
  }
});

test("relative, anchor, http(s) and mailto links and data:image pictures are kept", () => {
  assert.equal(markdownToHtml("[a](other.ipynb#part)"), '<p><a href="other.ipynb#part">a</a></p>');
  assert.equal(markdownToHtml("[a](https://example.org/?x=1&y=2)"), '<p><a href="https://example.org/?x=1&amp;y=2">a</a></p>');
  assert.equal(markdownToHtml("[a](mailto:someone@example.org)"), '<p><a href="mailto:someone@example.org">a</a></p>');
  assert.equal(markdownToHtml("![p](data:image/png;base64,iVBOR)"), '<p><img alt="p" src="data:image/png;base64,iVBOR"></p>');
});

test("a notebook's markdown cell with a javascript: link exports without it", () => {
  const page = notebookToHtml({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [{ cell_type: "markdown", source: ["See [the docs](javascript:location='//x')."], metadata: {} }] }, "t");
  assert.doesNotMatch(page, /javascript:/i);
  assert.match(page, /See the docs\./);
});
