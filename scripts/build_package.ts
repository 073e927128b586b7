// Builds what `import ... from "qlora-lab"` loads in a plain Node program (npm runs it before packing):
// dist/lib/index.js, the library bundled into one ES module, and dist/lib/**/*.d.ts, its declarations.
// A bundle rather than tsc's per-file output because lib/ops/register_gradients.ts imports TF.js's
// gradient definitions from tfjs-core's ES build, whose extensionless imports Node cannot resolve
// alone; esbuild resolves them. Every other package stays an import, so the bundle shares tfjs-core,
// its backends and the engine with the program that loads it.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = fileURLToPath(new URL("../", import.meta.url));
rmSync(`${root}dist`, { recursive: true, force: true });

execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, "-p", `${root}tsconfig.build.json`], { stdio: "inherit" });

/** Bare imports stay imports, except the files inside tfjs-core's ES build, which are bundled. */
const packagesStayExternal: esbuild.Plugin = {
  name: "packages-stay-external",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith("@tensorflow/tfjs-core/dist/") ? undefined : { path: args.path, external: true }));
  },
};

// The library, and the ladder's rung process (lib/ladder/ladder.ts starts dist/lib/ladder/child.js beside the bundle).
await esbuild.build({
  entryPoints: { index: `${root}lib/index.ts`, "ladder/child": `${root}lib/ladder/child.ts` },
  outdir: `${root}dist/lib`,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  plugins: [packagesStayExternal],
  logLevel: "warning",
});
