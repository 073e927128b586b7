// `qlora-lab run`: not built yet (see the open issues).
import { UnavailableError } from "../lib/errors.js";

/** Placeholder until this subcommand is built. */
export async function run(_argv: string[]): Promise<number> {
  throw new UnavailableError("qlora-lab run", "expected this command to exist, got a placeholder. It is not built yet.");
}
