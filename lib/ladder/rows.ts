// The ladder as table rows: one per measured rung, then the planner's 7B and 70B rows, with the
// columns `qlora-lab ladder` prints and a notebook's table() shows.
import { formatBytes } from "../format.js";
import { MEMORY_TIERS_GIB, type LadderResult, type TierFit } from "./ladder.js";
import { LADDER_METHOD_LABELS, requireResults } from "./charts.js";

const signed = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)}`;
const smallestTier = (fits: readonly TierFit[]) => {
  const tier = fits.find((t) => t.fits);
  return tier === undefined ? `> ${MEMORY_TIERS_GIB.at(-1)} GiB` : `${tier.tierGiB} GiB (${tier.basis})`;
};

/** The rows of one ladder result (or several, in order), every cell a string. */
export function ladderRows(results: LadderResult | readonly LadderResult[]): Record<string, string>[] {
  const list = requireResults("ladderRows", results);
  const rows: Record<string, string>[] = [];
  for (const result of list) {
    for (const r of result.rungs) {
      const gen = r.generateTokensPerSecond;
      rows.push({
        model: r.model + (r.weights === "random" ? "*" : ""),
        params: `${(r.parameters / 1e6).toFixed(r.parameters < 1e7 ? 2 : 0)} M`,
        method: LADDER_METHOD_LABELS[r.method],
        status: r.status,
        "ledger peak": r.peakBytes === undefined ? "-" : formatBytes(r.peakBytes),
        "planned (err)": `${formatBytes(r.plannedPeakBytes)}${r.plannedErrorPercent === undefined ? "" : ` (${signed(r.plannedErrorPercent)} %)`}`,
        "peak RSS": r.peakRssBytes === undefined ? "-" : formatBytes(r.peakRssBytes),
        "smallest tier": smallestTier(r.tiers),
        "step s (min-max)": r.stepSeconds ? `${r.stepSeconds.median.toFixed(2)} (${r.stepSeconds.min.toFixed(2)}-${r.stepSeconds.max.toFixed(2)})` : "-",
        "train tok/s": r.tokensPerSecond === undefined ? "-" : r.tokensPerSecond.toFixed(0),
        "gen tok/s sep / merged": gen ? `${gen.separate.toFixed(1)} / ${(gen.merged ?? gen.requantized)!.toFixed(1)}${gen.requantized !== undefined ? " (4-bit)" : ""}` : "-",
      });
    }
  }
  const seen = new Set<string>();
  for (const p of list.flatMap((r) => r.planned)) {
    if (seen.has(`${p.model} ${p.method}`)) continue;
    seen.add(`${p.model} ${p.method}`);
    rows.push({
      model: p.model,
      params: `${(p.parameters / 1e9).toFixed(1)} B`,
      method: LADDER_METHOD_LABELS[p.method],
      status: "planned",
      "ledger peak": "-",
      "planned (err)": formatBytes(p.tfjsPeakBytes),
      "peak RSS": "-",
      "smallest tier": smallestTier(p.tiers),
      "step s (min-max)": "-",
      "train tok/s": "-",
      "gen tok/s sep / merged": `CUDA plan ${formatBytes(p.cudaPeakBytes)}`,
    });
  }
  return rows;
}
