// Number formatting shared by chart summaries, labels and tables: byte units, durations, counts.

/** A binary byte unit and its size, e.g. { name: "GiB", bytes: 2**30 }. */
export interface ByteUnit {
  name: string;
  bytes: number;
}

const UNITS: readonly ByteUnit[] = [
  { name: "B", bytes: 1 },
  { name: "KiB", bytes: 2 ** 10 },
  { name: "MiB", bytes: 2 ** 20 },
  { name: "GiB", bytes: 2 ** 30 },
  { name: "TiB", bytes: 2 ** 40 },
];

/** The largest binary unit in which `maxBytes` is at least 1 (so an axis reads 0.5 to 12, not 5e8). */
export function chooseByteUnit(maxBytes: number): ByteUnit {
  let unit = UNITS[0];
  for (const candidate of UNITS) if (Math.abs(maxBytes) >= candidate.bytes) unit = candidate;
  return unit;
}

/** "1.25 GiB", "512 B": bytes in the best binary unit with three significant digits. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const unit = chooseByteUnit(bytes);
  const value = bytes / unit.bytes;
  return `${unit.name === "B" ? value.toFixed(0) : formatNumber(value, 3)} ${unit.name}`;
}

/** A number with `digits` significant digits, no exponent for everyday magnitudes, thousands separated. */
export function formatNumber(value: number, digits = 4): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e15 || magnitude < 1e-4) return value.toExponential(Math.max(0, digits - 1));
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(magnitude)));
  return value.toLocaleString("en-US", { maximumFractionDigits: decimals, minimumFractionDigits: 0 });
}

/** "1:05", "1:02:03" from milliseconds. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "?";
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}
