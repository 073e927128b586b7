#!/usr/bin/env node
// The qlora-lab command. Sources are TypeScript; tsx compiles them on load (cached), so the
// package needs no build step and no install script.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
