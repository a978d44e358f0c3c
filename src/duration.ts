// Durations on the command line: "250ms", "10s", "5m", "1h", or a bare number of seconds.

/** What parseDuration takes, as a JSON Schema pattern (the --config schema uses it). */
export const DURATION_PATTERN = '^([0-9]+(?:\\.[0-9]+)?)(ms|s|m|h)?$';
const DURATION_RE = new RegExp(DURATION_PATTERN);

export function parseDuration(text: string, flag: string): number {
  const m = DURATION_RE.exec(text.trim());
  if (!m) throw new Error(`${flag}: expected a duration like 250ms, 10s, 5m or 1h, got '${text}'`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000;
  return Math.round(Number(m[1]) * unit);
}
