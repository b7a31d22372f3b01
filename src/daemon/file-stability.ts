// A file is complete when its size and mtime have not changed for `stableMs`. Copies over the
// network or from a slow disk keep growing; queuing them early would convert half an image.
export interface FileSnapshot {
  size: number;
  mtimeMs: number;
}

export interface StabilityOptions {
  stableMs: number;
  pollMs: number;
  stat: (path: string) => Promise<FileSnapshot | undefined>;
  onGrowing: (path: string, size: number) => void;
  onStable: (path: string, size: number) => void;
  onGone?: (path: string) => void;
  now?: () => number;
  /** at most one "growing" report per file per this many ms (the first change is always reported) */
  growingReportMs?: number;
}

interface Tracked {
  last?: FileSnapshot;
  changedAt: number;
  lastReport: number;
}

export class StabilityTracker {
  private readonly tracked = new Map<string, Tracked>();
  private timer?: NodeJS.Timeout;
  private polling = false;
  private readonly now: () => number;

  constructor(private readonly opts: StabilityOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Starts (or restarts) watching a path until it is stable. */
  add(path: string): void {
    const t = this.tracked.get(path);
    if (t) t.changedAt = this.now();
    else this.tracked.set(path, { changedAt: this.now(), lastReport: -Infinity });
  }

  remove(path: string): void {
    this.tracked.delete(path);
  }

  has(path: string): boolean {
    return this.tracked.has(path);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll(), this.opts.pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass over tracked files (also called by tests directly). */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const [path, t] of [...this.tracked]) {
        const snap = await this.opts.stat(path);
        if (!this.tracked.has(path)) continue;
        const now = this.now();
        if (!snap) {
          this.tracked.delete(path);
          this.opts.onGone?.(path);
          continue;
        }
        if (!t.last || t.last.size !== snap.size || t.last.mtimeMs !== snap.mtimeMs) {
          const first = !t.last;
          t.last = snap;
          t.changedAt = now;
          if (!first && now - t.lastReport >= (this.opts.growingReportMs ?? 0)) {
            t.lastReport = now;
            this.opts.onGrowing(path, snap.size);
          }
          continue;
        }
        if (now - t.changedAt >= this.opts.stableMs) {
          this.tracked.delete(path);
          this.opts.onStable(path, snap.size);
        }
      }
    } finally {
      this.polling = false;
    }
  }
}
