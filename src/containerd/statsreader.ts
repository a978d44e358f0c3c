// The containers' CPU and memory for /metrics, read at scrape time but at most once per
// `maxAgeMs`: one Tasks.Metrics call covers every task of the namespace (containerd asks
// each shim in turn), its answer serves every scrape until it is that old, and scrapes
// that arrive while a call is under way share it. So a thousand containers cost one call
// per interval, whatever the scrape rate and however many scrapers there are.

import { statsOf, type TaskStats } from './stats.js';
import type { TasksService } from './tasks.js';

export class StatsReader {
  private last: { at: number; stats: TaskStats[] } | undefined;
  private inFlight: Promise<TaskStats[]> | undefined;

  constructor(
    private readonly tasks: TasksService,
    private readonly maxAgeMs = 5_000,
    /** The deadline of the call (a hung containerd must not hold scrapes for long). */
    private readonly timeoutMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  read(): Promise<TaskStats[]> {
    if (this.last && this.now() - this.last.at < this.maxAgeMs) return Promise.resolve(this.last.stats);
    this.inFlight ??= this.tasks
      .metrics([], { timeoutMs: this.timeoutMs })
      .then((metrics) => {
        const at = this.now();
        const stats = metrics.flatMap((m) => statsOf(m, at) ?? []);
        this.last = { at, stats };
        return stats;
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }
}
