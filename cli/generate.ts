// `qlora-lab generate`: not built yet (see the open issues).
import { UnavailableError } from "../lib/errors.js";

/** Placeholder until this subcommand is built. */
export async function generate(_argv: string[]): Promise<number> {
  throw new UnavailableError("qlora-lab generate", "expected this command to exist, got a placeholder. It is not built yet.");
}
