// The package as a user gets it: `npm pack` (which builds dist/ first), the tarball installed into a fresh
// folder, the library imported by name from a plain .mjs program and from TypeScript, and its CLI run
// through npx. The installed library's NF4 code book is compared with bitsandbytes' own vector.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const bnbNf4 = `${root}../shared/reference/bnb-4bit-vectors.json`;

const PROGRAM = `
import { readFileSync } from "node:fs";
import { CODEBOOKS, planMemory, resolveBackend, tf } from "qlora-lab";
const backend = await resolveBackend();
const gradient = tf.grad((x) => x.square().sum())(tf.tensor1d([1, 2, 3]));
const bnb = JSON.parse(readFileSync(process.argv[2], "utf8")).nf4;
const plan = planMemory("7b", { method: "qlora" });
console.log(JSON.stringify({ backend: backend.active, gradient: Array.from(gradient.dataSync()), nf4: Array.from(CODEBOOKS.nf4), bnb, planBytes: plan.totalBytes }));
`;

const TYPED_PROGRAM = `
import { planMemory, type MemoryCategory } from "qlora-lab";
const category: MemoryCategory = "base_packed";
const plan = planMemory("7b", { method: "lora", baseDtype: "bf16" });
const bytes: number = plan.totalBytes;
console.log(JSON.stringify({ category, bytes }));
`;

test("the packed tarball installs into a fresh folder, imports by name from .mjs and TypeScript, and its CLI runs", { timeout: 600_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "qlora-lab-pack-"));
  try {
    execFileSync(npm, ["pack", "--pack-destination", work, "--silent"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
    const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
    assert.ok(tarball, `npm pack left no tarball in ${work}`);

    const app = join(work, "app");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
    execFileSync(npm, ["install", "--prefer-offline", "--no-audit", "--no-fund", "--silent", join(work, tarball)], { cwd: app, stdio: ["ignore", "ignore", "inherit"] });

    writeFileSync(join(app, "main.mjs"), PROGRAM);
    const out = JSON.parse(execFileSync(process.execPath, ["main.mjs", bnbNf4], { cwd: app, encoding: "utf8" }).trim().split("\n").pop()!);
    assert.ok(out.backend, "resolveBackend activated a backend");
    assert.deepEqual(out.gradient, [2, 4, 6], "TF.js's gradients are registered in the built package");
    assert.equal(out.nf4.length, 16);
    out.nf4.forEach((v: number, i: number) => assert.ok(Math.abs(v - out.bnb[i]) < 1e-7, `NF4 level ${i}: ${v} vs bitsandbytes ${out.bnb[i]}`));
    assert.ok(out.planBytes > 3 * 2 ** 30 && out.planBytes < 12 * 2 ** 30, `7B QLoRA plan ${out.planBytes} bytes`);

    writeFileSync(join(app, "typed.ts"), TYPED_PROGRAM);
    const tsc = `${root}node_modules/typescript/bin/tsc`;
    execFileSync(process.execPath, [tsc, "--noEmit", "--strict", "--skipLibCheck", "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022", "typed.ts"], { cwd: app, stdio: ["ignore", "inherit", "inherit"] });
    const typed = JSON.parse(execFileSync(process.execPath, ["--import", "tsx", "typed.ts"], { cwd: app, encoding: "utf8" }).trim());
    assert.equal(typed.category, "base_packed");
    assert.ok(typed.bytes > 0);

    const plan = execFileSync(npm, ["exec", "--offline", "--", "qlora-lab", "plan", "--model", "7b", "--method", "qlora"], { cwd: app, encoding: "utf8" });
    assert.match(plan, /GiB/, "the CLI printed a plan");
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
