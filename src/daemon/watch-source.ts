// The watch-folder job source of `h2k daemon`: the watcher, queue, scheduler, job runner,
// notifications and dedup store, start-up recovery and their shutdown. The service shell
// (src/service/service.ts) gives it the control socket, signals, stats and metrics.
import { lstat, mkdir, realpath } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { convertImage } from '../convert/convert-image.js';
import type { DaemonConfig } from '../config/daemon-schema.js';
import { guestFixRequest } from '../config/guest-output-schema.js';
import { loadAddon } from '../native/addon.js';
import { warmPool } from '../pool/pool.js';
import type { Logger } from '../service/logger.js';
import { assertApart } from '../service/paths.js';
import type { JobSource, ServiceConfig, ServiceContext } from '../service/job-source.js';
import { Service, type ServiceOptions } from '../service/service.js';
import { Deduplicator } from './dedup.js';
import { assertGuestToolsForFixes } from './guest-stage.js';
import { JobRunner, type ConvertFn, type JobOutcome } from './job-runner.js';
import { Notifier } from './notify/notifier.js';
import type { Job, JobSpec } from './queue/job-queue.js';
import { removeStalePartials } from './recovery.js';
import { ScheduledSource } from './scheduled-source.js';
import { untilQueueAnswers } from './queue/queue-retry.js';
import { StallMonitor } from './stall-monitor.js';
import { WatchFolder } from './watcher.js';

/** `convert` replaces convertImage (tests inject failures); production leaves it unset. */
export type WatchSourceOptions = { convert?: ConvertFn };

export class WatchFolderSource extends ScheduledSource<DaemonConfig> implements JobSource {
  readonly fileTypes = this.cfg.file_extensions;
  private watcher?: WatchFolder;
  private notifier?: Notifier;
  private dedup?: Deduplicator;
  private stall?: StallMonitor;
  private runner?: JobRunner;
  private ctx?: ServiceContext;
  private closed = false;
  private lastCounts = { waiting: 0, retryWaiting: 0, running: 0 };
  get words() {
    return {
      name: 'Daemon',
      route: () => `watching ${this.cfg.watch_dir} -> ${this.cfg.output_dir}`,
      // in a cluster the queue is every host's: a draining host only finishes what it runs
      drain: (this.cluster
        ? ['no new jobs taken; finishing the jobs running on this host (the queue stays for the other hosts)', 'Draining; the daemon exits when its running jobs are done']
        : ['no new files accepted; finishing the queue', 'Draining queue; the daemon exits when it is empty']) as [string, string],
      stop: ['cancelling running jobs; their sources stay in the watch folder', 'Stopping daemon'] as [string, string],
    };
  }

  constructor(cfg: DaemonConfig, log: Logger, private readonly opts: WatchSourceOptions = {}) {
    super({ ...cfg, watch_dir: resolve(cfg.watch_dir), output_dir: resolve(cfg.output_dir) }, log);
  }

  get inFlight(): number {
    return this.scheduler?.inFlightCount ?? 0;
  }

  async queued() {
    // after close() the cluster's pool is gone: the last figures read stand (the final stats.json)
    if (this.closed) return this.lastCounts;
    return (this.lastCounts = await this.queue.counts(Date.now()));
  }

  status() {
    return { watch_dir: this.cfg.watch_dir, output_dir: this.cfg.output_dir, ...this.clusterStatus() };
  }

  async prepare(): Promise<void> {
    const cfg = this.cfg;
    assertApart('watch_dir', cfg.watch_dir, cfg.output_dir);
    assertGuestToolsForFixes(cfg);
    for (const d of [cfg.watch_dir, cfg.output_dir, join(cfg.watch_dir, '.processed'), join(cfg.watch_dir, '.errors')])
      await mkdir(d, { recursive: true });
    // The watcher never follows links (drop-guard.ts), so it must be given the real directories:
    // a configured watch_dir that is itself a symlink (trusted, the operator's) is resolved here.
    cfg.watch_dir = await realpath(cfg.watch_dir);
    cfg.output_dir = await realpath(cfg.output_dir);
    assertApart('watch_dir', cfg.watch_dir, cfg.output_dir, ' (after resolving symlinks)');
    // A job whose lease another host took over is cancelled: its .partial is removed, never renamed.
    await this.joinCluster('file');
  }

  async start(ctx: ServiceContext): Promise<void> {
    const { cfg, log } = this;
    this.ctx = ctx;
    this.startScheduler(ctx, {
      run: (job, signal) => this.runClaimed(job, signal),
      onReleased: (job) => this.watcher?.release(job.files),
      onSettled: (job) => this.watcher?.release(job.files),
    });
    // In a cluster the output_dir is shared: a .partial there may be another host's running job.
    if (!this.cluster)
      for (const p of await removeStalePartials(cfg.output_dir))
        log.warn('partial_removed', `Removed stale partial output: ${p}`, { file: p });
    if (cfg.enable_deduplication)
      this.dedup = await Deduplicator.open({ dbPath: ctx.paths.dedupDb, backend: this.cluster?.dedup, useHash: cfg.deduplication_use_md5, hash: cfg.deduplication_hash, log });
    const notifier = (this.notifier = new Notifier(cfg.notifications, log));
    // The converter's and hasher's own opens follow the drop rules too (O_NOFOLLOW, one name,
    // regular): nothing swapped in after the daemon's lstat checks is read.
    loadAddon().setPlainFilesOnly(true);
    // hyper2kvm users get fixes from its defaults; here only when asked for: say which way it is
    const fixKeys = guestFixRequest(cfg);
    if (fixKeys.length > 0)
      log.info('guest_fixes_on', `Guest fixes on (asked for by ${fixKeys.join(', ')}): each job's boot disk is fixed after conversion`, { keys: fixKeys });
    if (cfg.emit_domain_xml) log.info('domain_xml_on', 'emit_domain_xml: each job writes <vm>.xml beside its disks');
    const q = this.cluster?.queue;
    this.runner = new JobRunner({
      ...ctx, cfg, log, notifier, dedup: this.dedup, convert: this.opts.convert ?? convertImage,
      // a cluster job publishes its outputs only while it still holds its lease (output-publish.ts)
      ...(q ? { cluster: { hostName: q.hostName, fence: (id: string) => q.fence(id), publishWaitMs: q.leaseSeconds * 1000 } } : {}),
    });
    if (cfg.notifications.enabled && cfg.notifications.on_stalled) {
      this.stall = new StallMonitor({
        thresholdMs: cfg.notifications.stall_threshold_minutes * 60_000,
        lastActivity: () => ctx.stats.lastActivity,
        queueDepth: async () => (await this.queue.counts(Date.now())).waiting,
        onStalled: ({ queueDepth, idleMinutes, lastActivity }) => {
          log.warn('daemon_stalled', `Daemon stalled: ${queueDepth} job(s) waiting, idle for ${idleMinutes} min`, { queue_depth: queueDepth });
          notifier.notify({ event: 'daemon_stalled', queue_depth: queueDepth, idle_minutes: idleMinutes, last_activity: lastActivity.toISOString(), timestamp: new Date().toISOString() });
        },
      });
      this.stall.start();
    }
    this.watcher = new WatchFolder({
      watchDir: cfg.watch_dir, extensions: cfg.file_extensions, log,
      stableMs: cfg.file_stable_timeout * 1000, extentWaitMs: cfg.extent_wait_timeout * 1000,
      onJob: (spec) => void this.enqueue(spec),
      // the pool's threads start (~0.3 s each) while the file settles, not when its job does
      onSeen: this.opts.convert ? undefined : warmPool,
      onRefuse: ({ files, error, phase }) =>
        void this.runner!.refuse(files, error, phase).finally(() => {
          ctx.changed();
          this.watcher?.release(files);
        }),
    });
    await this.watcher.start();
    this.started(ctx);
  }

  /** In a cluster a job can be enqueued again by a host whose watcher judged the file just as
   * another host finished it and archived its files: a claimed job whose file is gone is done. */
  private async runClaimed(job: Job, signal: AbortSignal): Promise<JobOutcome> {
    if (this.cluster && !(await lstat(job.primary).then(() => true, () => false))) {
      this.log.info('job_gone', `Skipped ${job.primary}: no longer in the watch folder (another host finished it)`, { file: job.primary });
      return { kind: 'duplicate' };
    }
    return this.runner!.run(job, signal);
  }

  /** Queues a stable file. A cluster's database may be away (restart, network cut): the file was
   * judged once and the watcher will not hand it over again, so the enqueue is retried until the
   * database takes it (or the daemon stops taking files). */
  private async enqueue(spec: JobSpec): Promise<void> {
    const scheduler = this.scheduler!;
    if (!scheduler.accepting) return;
    const queued = await untilQueueAnswers(() => this.queue.enqueue(spec), {
      keepTrying: () => scheduler.accepting,
      onRetry: (e, ms) => this.log.warn('job_enqueue_retrying', `Cannot queue ${spec.primary} yet, retrying in ${ms / 1000}s: ${e.message}`, { file: spec.primary }),
    }).catch((e: Error & { code?: string }) => {
      // still unreachable when the daemon stopped taking files: the file stays for the next start
      if (e.code !== 'E_QUEUE_UNREACHABLE') {
        this.log.error('job_enqueue_failed', `Cannot queue ${spec.primary}: ${e.message}`, { file: spec.primary });
        this.watcher?.release(spec.files);
      }
      return false;
    });
    if (!queued) return;
    this.ctx!.stats.touch();
    const names = spec.files.map((f) => f.slice(this.cfg.watch_dir.length + 1)).join(' + ');
    this.log.info('job_queued', `New file queued: ${names}`, { file: spec.primary, files: spec.files, size: spec.sizeBytes });
    this.ctx!.changed();
    scheduler.kick();
  }

  override reconfigure(next: ServiceConfig): void {
    const n = next as unknown as DaemonConfig;
    // The job runner reads retry_policy when a job fails: the next failure uses the new one.
    this.cfg.retry_policy = n.retry_policy;
    this.cfg.notifications = n.notifications;
    this.notifier?.reconfigure(n.notifications);
    super.reconfigure(next);
  }

  /** The watcher stops taking files (not waited for: the scheduler winds down meanwhile). */
  protected stopIntake(): void {
    void this.watcher?.stop();
  }

  protected async closeOwn(): Promise<void> {
    this.closed = true;
    await this.watcher?.stop();
    this.stall?.stop();
    await this.notifier?.flush();
    this.notifier?.close();
    if (this.dedup) {
      const days = this.cfg.deduplication_retention_days;
      await this.dedup.purge(days).then(
        (n) => n > 0 && this.log.info('dedup_purged', `Removed ${n} dedup record(s) older than ${days} days`),
        (err: Error) => this.log.warn('dedup_purge_failed', `Dedup purge failed: ${err.message}`),
      );
      await this.dedup.close();
      this.dedup = undefined;
    }
    if (this.runner) loadAddon().setPlainFilesOnly(false);
  }
}

/** `h2k daemon` watching a folder: the shell around a WatchFolderSource. */
export function watchFolderService(cfg: DaemonConfig, log: Logger, opts: WatchSourceOptions & ServiceOptions = {}): Service {
  return new Service(new WatchFolderSource(cfg, log, opts), { ...cfg }, log, opts);
}
