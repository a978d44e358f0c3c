// Summaries of repeated measurements: median with min and max, and nearest-rank
// percentiles for latency series. Pure; the bench never judges a figure, only reports it.

export interface Summary {
  /** Every observation, in the order measured. */
  values: number[];
  median: number;
  min: number;
  max: number;
  /** Nearest-rank percentiles; set for latency series. */
  p50?: number;
  p95?: number;
}

/** Nearest-rank percentile (p in 0..100) of a non-empty series. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile of an empty series');
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of an empty series');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function summarize(values: readonly number[], opts: { percentiles?: boolean } = {}): Summary {
  const s: Summary = { values: [...values], median: median(values), min: Math.min(...values), max: Math.max(...values) };
  if (opts.percentiles) {
    s.p50 = percentile(values, 50);
    s.p95 = percentile(values, 95);
  }
  return s;
}

/** Milliseconds since `start` (a performance.now() reading), to 0.1 ms. */
export function since(start: number): number {
  return Math.round((performance.now() - start) * 10) / 10;
}
