// Sizes as people write them for a memory budget: "8GiB", "512 MiB", "8GB", "1.5 GiB", "4096".
// Binary units (KiB, MiB, GiB, TiB) are powers of 1024 and decimal ones (KB, MB, GB, TB) powers of
// 1000, as the IEC and SI define them; a bare number is bytes. "8G" is refused: it could mean either.
import { InvalidArgumentError, expected } from "../errors.js";

const UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
};

const SIZE = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)$/i;

/** Bytes of `text` ("8GiB" -> 8589934592, "8GB" -> 8000000000); `where` names the option in the error. */
export function parseByteSize(text: string, where: string): number {
  const wanted = 'a size such as "8GiB", "512MiB" or "8GB"';
  if (typeof text !== "string") throw new InvalidArgumentError(where, expected(wanted, text));
  const match = SIZE.exec(text.trim());
  const unit = match?.[2]!.toLowerCase() || "b";
  if (!match || !(unit in UNIT_BYTES)) {
    const hint = match && /^[kmgt]$/.test(unit) ? ` "${match[2]}" alone could mean ${match[2]!.toUpperCase()}iB (1024-based) or ${match[2]!.toUpperCase()}B (1000-based); write one of them.` : " Units: B, KiB, MiB, GiB, TiB (1024-based) or KB, MB, GB, TB (1000-based).";
    throw new InvalidArgumentError(where, expected(wanted, JSON.stringify(text), hint.trim()));
  }
  const bytes = Math.round(Number(match[1]) * UNIT_BYTES[unit]!);
  if (!(bytes > 0) || !Number.isSafeInteger(bytes)) throw new InvalidArgumentError(where, expected(`${wanted}, more than 0 bytes`, JSON.stringify(text)));
  return bytes;
}

/** A budget given as bytes or as text: checked and returned as bytes. */
export function budgetBytes(budget: number | string, where: string): number {
  if (typeof budget === "string") return parseByteSize(budget, where);
  if (typeof budget !== "number" || !Number.isSafeInteger(budget) || budget <= 0) throw new InvalidArgumentError(where, expected('a budget in bytes (a positive integer) or a size such as "8GiB"', budget));
  return budget;
}
