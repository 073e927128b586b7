// Where a run fits: memory tiers from laptops' RAM to the largest single GPU, in GiB (an "80 GB" GPU
// holds 80 GiB), and for a run past the largest tier, how many of the largest it spans. One answer for
// the planner's chart and the tables beside it, so the two never disagree.
import { InvalidArgumentError, expected } from "../errors.js";

/** Memory tiers in GiB: laptops' RAM (4, 6, 8) and GPUs' memory as sold (12 to 80). */
export const DEVICE_TIERS_GIB = [4, 6, 8, 12, 16, 24, 48, 80] as const;

const GIB = 2 ** 30;

/** Which tiers hold `bytes`, the smallest that does, and how many of the largest tier it takes. */
export interface DeviceFit {
  tiers: Array<{ gib: number; fits: boolean }>;
  /** The smallest tier that holds it alone; undefined when none does. */
  smallestGiB?: number;
  largestGiB: number;
  /** Devices of the largest tier it spans (1 when one holds it), with the bytes split evenly. */
  devicesOfLargest: number;
}

/** Fits `bytes` (what must be on the device) against `tiersGiB` (ascending). */
export function deviceFit(bytes: number, tiersGiB: readonly number[] = DEVICE_TIERS_GIB): DeviceFit {
  if (typeof bytes !== "number" || !Number.isFinite(bytes) || bytes < 0) throw new InvalidArgumentError("deviceFit", expected("bytes to be a finite number >= 0", bytes));
  if (tiersGiB.length === 0 || tiersGiB.some((t, i) => !(t > 0) || (i > 0 && t <= tiersGiB[i - 1]!))) {
    throw new InvalidArgumentError("deviceFit", expected("tiers in GiB, positive and ascending", JSON.stringify(tiersGiB)));
  }
  const tiers = tiersGiB.map((gib) => ({ gib, fits: bytes <= gib * GIB }));
  const largestGiB = tiersGiB.at(-1)!;
  return { tiers, smallestGiB: tiers.find((t) => t.fits)?.gib, largestGiB, devicesOfLargest: Math.max(1, Math.ceil(bytes / (largestGiB * GIB))) };
}

/** "fits 12 GiB" or "needs 2 x 80 GiB": the same words in every table. */
export function describeDeviceFit(fit: DeviceFit): string {
  return fit.smallestGiB !== undefined ? `fits ${fit.smallestGiB} GiB` : `needs ${fit.devicesOfLargest} x ${fit.largestGiB} GiB`;
}
