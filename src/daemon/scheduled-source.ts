// What both job sources of `h2k daemon` share: their jobs run through one Scheduler, alone or in
// a cluster (queue_url: the shared queue, its poll, the cluster's pause/resume/drain asks), and
// they come to rest the same way. A source adds where its jobs come from and how one runs. It is
// here, not in src/service, because it is built on the Scheduler and the cluster parts.
import type { Logger } from '../service/logger.js';
import type { ServiceConfig, ServiceContext } from '../service/job-source.js';
import { configurePool } from '../pool/pool.js';
import { CLUSTER_POLL_MS, openClusterParts, type ClusterConfig, type ClusterParts } from './cluster-parts.js';
import type { JobQueue } from './queue/job-queue.js';
import { MemoryJobQueue } from './queue/memory-queue.js';
import type { DesiredState } from './queue/pg-control.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';

export abstract class ScheduledSource<C extends ServiceConfig> {
  /** with queue_url: the shared queue (and dedup store) */
  protected cluster?: ClusterParts;
  /** this host's own until joinCluster, then the cluster's */
  protected queue: JobQueue = new MemoryJobQueue();
  protected scheduler?: Scheduler;
  private pollTimer?: NodeJS.Timeout;
  /** what the cluster asked before the source started (`h2k ctl --queue-url URL pause|resume|drain`) */
  private desired?: DesiredState;
  private command?: ServiceContext['command'];

  constructor(protected readonly cfg: C, protected readonly log: Logger) {}

  /** Stops taking new jobs in (watcher, intake): the first step of every way to come to rest. */
  protected abstract stopIntake(): Promise<void> | void;
  /** After the scheduler is done: what the source still owes its cancelled jobs. */
  protected async settleEnd(): Promise<void> {}
  /** Releases the source's own parts; the cluster's are closed after. */
  protected abstract closeOwn(): Promise<void>;

  get runState() {
    return this.scheduler?.runState ?? 'running';
  }

  get hostName(): string | undefined {
    return this.cluster?.queue.hostName;
  }

  /** The status reply's cluster fields. */
  protected clusterStatus() {
    const c = this.cluster?.queue;
    return c ? { host_name: c.hostName, queue_url: c.shownUrl } : {};
  }

  /** With queue_url: opens the cluster's parts; a job whose lease another host took over is
   * cancelled here. `field`: the log field that names the job (the watch folder's is its file). */
  protected async joinCluster(field: 'file' | 'job', own: Partial<ClusterConfig> = {}): Promise<void> {
    const url = this.cfg.queue_url;
    if (!url) return;
    this.cluster = await openClusterParts({ ...this.cfg, queue_url: url, ...own }, this.log, (id) => {
      this.log.warn('job_lease_lost', `Job ${id} was taken over by another host (this host's heartbeats did not reach the database); cancelling it here`, { [field]: id });
      this.scheduler?.cancel(id);
    }, () => this.scheduler?.kick(), this.onDesired);
    this.queue = this.cluster.queue;
  }

  /** An ask that arrives before start waits; later ones are done as the control socket's commands. */
  private readonly onDesired = (desired: DesiredState): void => {
    this.desired = this.command ? undefined : desired;
    this.command?.(desired === 'draining' ? 'drain' : desired === 'paused' ? 'pause' : 'resume', 'cluster control');
  };

  /** The scheduler (max_concurrent_jobs, which the conversion pool is sized to); in a cluster every
   * run-state change is reported to the database (`ctl status`), a draining host finishes only
   * what it runs, and a paused cluster's host starts paused. */
  protected startScheduler(ctx: ServiceContext, opts: Pick<SchedulerOptions, 'run' | 'onReleased' | 'onSettled'>): Scheduler {
    configurePool(this.cfg.max_concurrent_jobs);
    const scheduler = (this.scheduler = new Scheduler({
      ...opts, maxConcurrent: this.cfg.max_concurrent_jobs, queue: this.queue, log: this.log,
      onChange: () => {
        ctx.changed();
        this.cluster?.queue.reportState(this.runState).catch((err: Error) => this.log.warn('queue_connection_error', err.message));
      },
      drainQueue: !this.cluster,
    }));
    if (this.desired === 'paused') {
      scheduler.pause();
      this.log.info('daemon_paused', 'Daemon paused: the cluster is paused (h2k ctl --queue-url URL resume)', { by: 'cluster control' });
    }
    return scheduler;
  }

  /** The intake is up. A cluster host polls (another host may queue work, or die and leave its jobs
   * after their lease); what the cluster asked meanwhile is done now. */
  protected started(ctx: ServiceContext): void {
    if (this.cluster) (this.pollTimer = setInterval(() => this.scheduler?.kick(), CLUSTER_POLL_MS)).unref();
    this.command = ctx.command;
    const desired = this.desired;
    if (desired && desired !== (this.scheduler!.isPaused ? 'paused' : 'running')) this.onDesired(desired);
  }

  /** A reload's max_concurrent_jobs: the scheduler and the conversion pool take it at once. */
  reconfigure(next: ServiceConfig): void {
    this.cfg.max_concurrent_jobs = next.max_concurrent_jobs;
    configurePool(next.max_concurrent_jobs);
    this.scheduler?.setMaxConcurrent(next.max_concurrent_jobs);
  }

  pause = () => this.scheduler?.pause();
  resume = () => this.scheduler?.resume();
  drain = () => this.end((s) => s.drain());
  stop = () => this.end((s) => s.stop());
  shutdown = (graceMs: number) => this.end((s) => s.shutdown(graceMs));

  /** The intake stops; the scheduler winds down as told; the source settles what was cancelled. */
  protected async end(how: (s: Scheduler) => void): Promise<void> {
    await this.stopIntake();
    if (!this.scheduler) return;
    how(this.scheduler);
    await this.scheduler.done;
    await this.settleEnd();
  }

  async close(): Promise<void> {
    clearInterval(this.pollTimer);
    await this.closeOwn();
    await this.cluster?.close().catch((err: Error) => this.log.warn('queue_close_failed', err.message));
    this.cluster = undefined;
  }
}
