// stats.json kept current: bursts of changes coalesce into one atomic write, plus a periodic
// refresh; and the SIGUSR1 / log rendering of a snapshot. Shared by both daemon modes.
import { writeJsonAtomic } from '../util/atomic-write.js';
import type { Logger } from './logger.js';
import { formatStats, type StatsSnapshot } from './stats.js';

export class StatsFile {
  private queued = false;
  private writing: Promise<void> = Promise.resolve();
  private timer?: NodeJS.Timeout;

  constructor(private readonly path: string, private readonly snapshot: () => Promise<StatsSnapshot>, private readonly log: Logger) {}

  /** Rewrites the file every `seconds` until stop(). */
  startInterval(seconds: number): void {
    this.timer = setInterval(() => this.schedule(), seconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Coalesces bursts of changes into one write, `delayMs` from the first. */
  schedule(delayMs = 50): void {
    if (this.queued) return;
    this.queued = true;
    setTimeout(() => {
      this.queued = false;
      void this.write();
    }, delayMs).unref();
  }

  write(): Promise<void> {
    this.writing = this.writing
      .then(async () => writeJsonAtomic(this.path, await this.snapshot()))
      .catch((err) => this.log.error('stats_write_failed', `Cannot write ${this.path}: ${(err as Error).message}`));
    return this.writing;
  }
}

/** SIGUSR1: the statistics as one log record (one JSON line in JSON-log mode). */
export function logStats(log: Logger, s: StatsSnapshot): void {
  log.info('stats', `Daemon statistics: ${formatStats(s).map((l) => l.trim()).filter(Boolean).join('; ')}`, { stats: s });
}
