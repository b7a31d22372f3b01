// At most N jobs (VM pipelines) at once across every manifest in flight; the rest wait in FIFO order.
export class JobLimiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`job limit must be a positive integer, got ${limit}`);
  }

  /** A new limit (config reload): raising it starts waiting jobs now; lowering it lets running ones finish. */
  setLimit(limit: number): void {
    this.limit = limit;
    this.wake();
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    // A waiter is woken with its slot already counted.
    if (this.running >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.running++;
    try {
      return await job();
    } finally {
      this.running--;
      this.wake();
    }
  }

  private wake(): void {
    while (this.running < this.limit && this.waiting.length > 0) {
      this.running++;
      this.waiting.shift()!();
    }
  }
}
