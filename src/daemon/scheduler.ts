// Claims jobs from the queue and runs up to max_concurrent_jobs of them at once; knows the
// daemon's run state (running, paused, draining, stopping). Talks to the queue only through
// the JobQueue interface.
import type { Job, JobQueue } from './queue/job-queue.js';
import type { JobOutcome } from './job-runner.js';
import type { Logger } from '../service/logger.js';
import type { RunState } from '../service/job-source.js';
import { serialPass } from '../util/serial-pass.js';
import { untilQueueAnswers } from './queue/queue-retry.js';

export interface SchedulerOptions {
  queue: JobQueue;
  maxConcurrent: number;
  run: (job: Job, signal: AbortSignal) => Promise<JobOutcome>;
  log: Logger;
  /** called after any job settles or the state changes (stats.json refresh) */
  onChange?: () => void;
  /** jobs cancelled by stop: their files may be picked up again later */
  onReleased?: (job: Job) => void;
  /** a job finished for good (success, duplicate, failure): its files left the watch folder */
  onSettled?: (job: Job) => void;
  /** false in a cluster: a drain finishes the jobs this host runs and claims none (the queue is the
   * whole cluster's, other hosts take it); true (default): a drain empties the queue first */
  drainQueue?: boolean;
}

export class Scheduler {
  private state: RunState = 'running';
  private paused = false;
  private readonly inFlight = new Map<string, AbortController>();
  private wakeTimer?: NodeJS.Timeout;
  private finished!: () => void;
  /** resolves when a drain has emptied the queue or a stop has cancelled everything */
  readonly done: Promise<void> = new Promise((r) => (this.finished = r));

  constructor(private readonly opts: SchedulerOptions) {}

  get runState(): RunState {
    if (this.state === 'running' && this.paused) return 'paused';
    return this.state;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Whether new files may be queued (not while draining or stopping). */
  get accepting(): boolean {
    return this.state === 'running';
  }

  /** A new max_concurrent_jobs (config reload): running jobs above it finish, none is cancelled. */
  setMaxConcurrent(n: number): void {
    this.opts.maxConcurrent = n;
    this.kick();
  }

  pause(): void {
    this.paused = true;
    this.opts.onChange?.();
  }

  resume(): void {
    this.paused = false;
    this.opts.onChange?.();
    this.kick();
  }

  /** Stop accepting new files, finish everything queued (retries included; in a cluster only the
   * jobs running here), then finish. */
  drain(): void {
    if (this.state !== 'running') return;
    this.state = 'draining';
    // A drain must make progress even if the daemon was paused.
    this.paused = false;
    this.opts.onChange?.();
    this.kick();
  }

  /**
   * Start nothing more (queued jobs wait for the next start); running jobs get graceMs to finish,
   * then are cancelled as by stop().
   */
  shutdown(graceMs: number): void {
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    this.paused = false;
    const cancel = () => {
      for (const ac of this.inFlight.values()) ac.abort();
    };
    if (graceMs > 0) setTimeout(cancel, graceMs).unref();
    else cancel();
    this.opts.onChange?.();
    this.kick();
  }

  /** Cancel running conversions (sources stay in the watch folder) and finish. */
  stop(): void {
    this.shutdown(0);
  }

  /** Cancels one running job (its claim was lost to another host): it ends as cancelled. */
  cancel(id: string): void {
    this.inFlight.get(id)?.abort();
  }

  /** Ask for a scheduling pass (new job queued, timer fired, job settled). */
  readonly kick = serialPass(
    () => this.pumpOnce(),
    (err) => this.opts.log.error('scheduler_error', `Scheduler error: ${(err as Error).message}`),
  );

  private async pumpOnce(): Promise<void> {
    const { queue } = this.opts;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (this.state === 'stopped') return;
    if (this.state === 'stopping') {
      if (this.inFlight.size === 0) this.finish();
      return;
    }
    const claiming = !(this.state === 'draining' && this.opts.drainQueue === false);
    while (claiming && !this.paused && this.inFlight.size < this.opts.maxConcurrent) {
      const job = await queue.claim(Date.now());
      if (!job) break;
      this.start(job);
    }
    const now = Date.now();
    const next = await queue.nextDueAt(now);
    if (next !== undefined && !this.paused) {
      this.wakeTimer = setTimeout(() => this.kick(), Math.max(0, next - now) + 5);
    }
    if (this.state === 'draining' && this.inFlight.size === 0) {
      if (!claiming) return this.finish();
      const c = await queue.counts(Date.now());
      if (c.waiting === 0 && c.running === 0) this.finish();
    }
  }

  private start(job: Job): void {
    const ac = new AbortController();
    this.inFlight.set(job.id, ac);
    this.opts.onChange?.();
    void this.opts
      .run(job, ac.signal)
      .catch((err): JobOutcome => {
        this.opts.log.error('job_crashed', `Job ${job.primary} crashed: ${(err as Error).message}`);
        const error = Object.assign(new Error(String((err as Error)?.message ?? err)), { code: 'E_INTERNAL' });
        return { kind: 'failed', error } as JobOutcome;
      })
      .then((outcome) => this.settleUntilRecorded(job, outcome))
      .catch((err) => this.opts.log.error('queue_error', `Queue update for ${job.primary} failed: ${(err as Error).message}`))
      .finally(() => {
        this.inFlight.delete(job.id);
        this.opts.onChange?.();
        this.kick();
      });
  }

  /** Records a job's outcome. The database of a cluster may be away (restart, network cut) when a
   * job ends: its outcome is final (the output is in place), so the update is tried again until the
   * queue takes it, the job keeping its slot meanwhile — never left 'running' with a live lease. */
  private settleUntilRecorded(job: Job, outcome: JobOutcome): Promise<void> {
    return untilQueueAnswers(() => this.settle(job, outcome), {
      // Stopping gives up: the job stays 'running' under this host's lease, which lapses once the
      // host is gone, and another host takes it (a published output is not converted twice).
      keepTrying: () => this.state !== 'stopping' && this.state !== 'stopped',
      onRetry: (e, ms) => this.opts.log.warn('queue_update_retrying', `Queue update for ${job.primary} failed, retrying in ${ms / 1000}s: ${e.message}`, { file: job.primary }),
    });
  }

  private async settle(job: Job, outcome: JobOutcome): Promise<void> {
    const q = this.opts.queue;
    switch (outcome.kind) {
      case 'success':
      case 'duplicate':
        await q.complete(job.id);
        this.opts.onSettled?.(job);
        break;
      case 'failed':
        await q.fail(job.id, { code: outcome.error.code, message: outcome.error.message });
        this.opts.onSettled?.(job);
        break;
      case 'retry':
        await q.retryAt(job.id, outcome.at, { code: outcome.error.code, message: outcome.error.message });
        break;
      case 'cancelled':
        await q.release(job.id);
        this.opts.onReleased?.(job);
        break;
    }
  }

  private finish(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.finished();
  }
}
