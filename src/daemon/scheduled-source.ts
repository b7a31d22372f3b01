// What both job sources of `h2k daemon` share: their jobs run through one Scheduler, alone or in
// a cluster (queue_url: the shared queue, its poll timer, the cluster's pause/resume/drain asks),
// and they come to rest the same way. A source adds only where its jobs come from (the watch
// folder's watcher, the manifests' intake) and how one runs. It lives in src/daemon, not
// src/service, because it is built on the Scheduler and the cluster parts here; src/service
// stays free of both (ARCHITECTURE.md).
import type { Logger } from '../service/logger.js';
import type { ServiceContext } from '../service/job-source.js';
import { ClusterControlLink } from './cluster-control-link.js';
import { CLUSTER_POLL_MS, openClusterParts, type ClusterConfig, type ClusterParts } from './cluster-parts.js';
import type { JobQueue } from './queue/job-queue.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';

export abstract class ScheduledSource {
  /** with queue_url: the shared queue (and dedup store) */
  protected cluster?: ClusterParts;
  protected scheduler?: Scheduler;
  private readonly control: ClusterControlLink;
  private pollTimer?: NodeJS.Timeout;

  constructor(
    protected readonly log: Logger,
    protected queue: JobQueue,
  ) {
    this.control = new ClusterControlLink(log);
  }

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

  /** Opens the cluster's parts; a job whose lease another host took over is cancelled here.
   * `field`: the log field that names the job (the watch folder logs its file). */
  protected async joinCluster(cfg: ClusterConfig, field: 'file' | 'job'): Promise<ClusterParts> {
    const cluster = await openClusterParts(cfg, this.log, (id) => {
      this.log.warn('job_lease_lost', `Job ${id} was taken over by another host (this host's heartbeats did not reach the database); cancelling it here`, { [field]: id });
      this.scheduler?.cancel(id);
    }, () => this.scheduler?.kick(), this.control.onDesired);
    this.queue = cluster.queue;
    return (this.cluster = cluster);
  }

  /** The scheduler, paused before its first claim when the cluster is paused. In a cluster a
   * draining host finishes what it runs; the other hosts take the rest of the queue. */
  protected startScheduler(ctx: ServiceContext, opts: Pick<SchedulerOptions, 'maxConcurrent' | 'run' | 'onReleased' | 'onSettled'>): Scheduler {
    const scheduler = (this.scheduler = new Scheduler({
      ...opts,
      queue: this.queue,
      log: this.log,
      onChange: () => {
        ctx.changed();
        if (this.cluster) this.control.report(this.cluster.queue, this.runState);
      },
      drainQueue: !this.cluster,
    }));
    this.control.startPausedIfAsked(scheduler);
    return scheduler;
  }

  /** The intake is up. Another host may queue work, or die and leave its jobs to be claimed after
   * their lease: a cluster host polls; what the cluster asked meanwhile is done now. */
  protected started(ctx: ServiceContext): void {
    if (this.cluster) (this.pollTimer = setInterval(() => this.scheduler?.kick(), CLUSTER_POLL_MS)).unref();
    this.control.started(ctx, this.scheduler!);
  }

  pause = () => this.scheduler?.pause();
  resume = () => this.scheduler?.resume();
  drain = () => this.end((s) => s.drain());
  stop = () => this.end((s) => s.stop());
  shutdown = (graceMs: number) => this.end((s) => s.shutdown(graceMs));

  /** The intake stops; the scheduler winds down as told; the source settles what was cancelled. */
  protected async end(how: (s: Scheduler) => void): Promise<boolean> {
    await this.stopIntake();
    if (!this.scheduler) return true;
    how(this.scheduler);
    await this.scheduler.done;
    await this.settleEnd();
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.pollTimer);
    await this.closeOwn();
    await this.cluster?.close().catch((err: Error) => this.log.warn('queue_close_failed', err.message));
    this.cluster = undefined;
  }
}
