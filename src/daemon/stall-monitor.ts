// "Stalled": nothing started or finished for longer than the threshold while jobs are waiting
// (e.g. paused and forgotten, or every worker stuck). Reported once per stall.
export interface StallMonitorOptions {
  thresholdMs: number;
  lastActivity: () => Date;
  queueDepth: () => Promise<number>;
  onStalled: (info: { queueDepth: number; idleMinutes: number; lastActivity: Date }) => void;
}

export class StallMonitor {
  private timer?: NodeJS.Timeout;
  private reportedFor?: number;

  constructor(private readonly opts: StallMonitorOptions) {}

  start(): void {
    const every = Math.min(60_000, Math.max(100, this.opts.thresholdMs / 4));
    this.timer = setInterval(() => void this.check(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async check(now = Date.now()): Promise<boolean> {
    const last = this.opts.lastActivity();
    const idle = now - last.getTime();
    if (idle < this.opts.thresholdMs || this.reportedFor === last.getTime()) return false;
    const depth = await this.opts.queueDepth();
    if (depth === 0) return false;
    this.reportedFor = last.getTime();
    this.opts.onStalled({ queueDepth: depth, idleMinutes: Math.round((idle / 60_000) * 100) / 100, lastActivity: last });
    return true;
  }
}
