/**
 * One way to write a number of bytes for people, used by the CLI and the UI
 * alike, so the same files show the same size everywhere: decimal SI units
 * (1 kB = 1000 B, 1 MB = 1000 kB), as GNOME Files and macOS Finder show them
 * and as network rates are counted. Why decimal and not binary: docs/decisions.md
 * ("Sizes: one formatter, decimal units").
 */

/** SI symbols; the same in English and Chinese interfaces. */
const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'] as const;
/** SI prefixes step by a thousand. */
const STEP = 1000;

/**
 * 1500 -> "1.5 kB", 315_000_000 -> "315 MB": at most three significant digits
 * (whole bytes below 1 kB), trailing zeros dropped.
 */
export function formatSize(bytes: number): string {
  let value = Number.isFinite(bytes) ? Math.max(0, bytes) : 0;
  let unit = 0;
  while (value >= STEP && unit < UNITS.length - 1) {
    value /= STEP;
    unit++;
  }
  // 999.96 kB would round to "1000 kB": write it as the next unit.
  if (unit > 0 && unit < UNITS.length - 1 && Number(value.toPrecision(3)) >= STEP) {
    value /= STEP;
    unit++;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  const text = value.toFixed(digits);
  return `${digits > 0 ? text.replace(/\.?0+$/, '') : text} ${UNITS[unit]}`;
}

/** "2.5 MB/s": a rate in the same units. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatSize(bytesPerSecond)}/s`;
}
