// The manifest-directory job source of `h2k daemon --manifest-workflow-mode`: the manifest
// workflow on the daemon's JobQueue seam (manifest-jobs.ts), behind the service shell
// (src/service/service.ts), which gives it the control socket, stats.json, metrics and signals.
// Single host: the in-memory queue and run ledger; stop cancels running manifests, removes their
// outputs and puts them back in to_be_processed/. With queue_url: the cluster's PostgreSQL queue
// and run ledger; several hosts share one manifest folder, a stopping host's VMs go back to the
// queue for the others.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '../service/logger.js';
import { assertApart } from '../service/paths.js';
import type { JobSource, ServiceConfig, ServiceContext } from '../service/job-source.js';
import { Service, type ServiceOptions } from '../service/service.js';
import type { StatsSnapshot } from '../service/stats.js';
import { configurePool } from '../pool/pool.js';
import { CLUSTER_POLL_MS, openClusterParts, type ClusterParts } from '../daemon/cluster-parts.js';
import { ClusterControlLink } from '../daemon/cluster-control-link.js';
import { MemoryJobQueue } from '../daemon/queue/memory-queue.js';
import type { JobQueue } from '../daemon/queue/job-queue.js';
import { PgRunLedger } from '../daemon/queue/pg-run-ledger.js';
import { Scheduler } from '../daemon/scheduler.js';
import { toH2kError } from '../util/errors.js';
import { ManifestIntake } from './manifest-intake.js';
import { ManifestJobs, type WorkflowEvent } from './manifest-jobs.js';
import { MemoryRunLedger, type RunLedger } from './run-ledger.js';
import { WorkflowDirs } from './workflow-dirs.js';

export type WorkflowDaemonConfig = ServiceConfig & {
  manifest_workflow_dir: string;
  manifest_source_root?: string;
  lease_seconds?: number;
  cluster_max_jobs?: number;
};

/** Stats count manifests, all under one file type. */
const MANIFEST_TYPE = 'manifest';

function logEvent(log: Logger, e: WorkflowEvent): void {
  switch (e.type) {
    case 'taken':
      log.info('manifest_taken', `Manifest ${e.recovered ? 'taken again after restart' : 'taken'}: ${e.manifest}`, { manifest: e.manifest, job_id: e.jobId });
      break;
    case 'cleaned':
      log.warn('manifest_cleaned', `Removed outputs of an interrupted run of ${e.manifest}: ${e.removed.join(', ') || 'none left'}`, { manifest: e.manifest, removed: e.removed });
      break;
    case 'processed':
      log.info('manifest_processed', `Manifest processed: ${e.manifest} in ${e.seconds.toFixed(1)}s -> ${e.path}`, { manifest: e.manifest, job_id: e.jobId, path: e.path, report: e.report });
      break;
    case 'failed':
      log.error('manifest_failed', `Manifest failed at ${e.stage}: ${e.error} [${e.code}] -> ${e.path}`, { manifest: e.manifest, job_id: e.jobId, path: e.path, stage: e.stage, code: e.code });
      break;
    case 'interrupted':
      log.warn('manifest_interrupted', `Manifest cancelled: ${e.manifest} ${e.requeued ? 'back in to_be_processed/' : 'stays in processing/ (a namesake is queued)'}; removed ${e.removed.length} output(s)`, {
        manifest: e.manifest, job_id: e.jobId, requeued: e.requeued, removed: e.removed,
      });
      break;
    case 'vm':
      log.debug('vm_stage', `${e.manifest}: ${e.vm} ${e.stage === 'done' ? 'finished' : `-> ${e.stage}`}`, { manifest: e.manifest, vm: e.vm, stage: e.stage });
      break;
    case 'error':
      log.error('workflow_error', `${e.manifest ? `${e.manifest}: ` : ''}${e.error} [${e.code}]`, { manifest: e.manifest, code: e.code });
      break;
  }
}

export class ManifestSource implements JobSource {
  readonly mode = 'manifest_workflow';
  readonly fileTypes = [MANIFEST_TYPE];
  readonly workflowDir: string;
  readonly outputDir: string;
  readonly legacyStatsFile: string;
  readonly dirs: WorkflowDirs;
  private queue: JobQueue = new MemoryJobQueue();
  private ledger: RunLedger = new MemoryRunLedger();
  /** with queue_url: the shared queue (the run ledger is opened beside it) */
  private cluster?: ClusterParts;
  private readonly control: ClusterControlLink;
  private pollTimer?: NodeJS.Timeout;
  private jobs?: ManifestJobs;
  private scheduler?: Scheduler;
  private intake?: ManifestIntake;
  readonly words = {
    name: 'Manifest workflow',
    route: () => `${this.workflowDir}/to_be_processed -> ${this.outputDir}`,
    drain: ['no new manifests taken; finishing those in processing/', 'Draining: running manifests finish, then the daemon exits'] as [string, string],
    stop: ['cancelling running manifests; they go back to to_be_processed/', 'Stopping daemon: running manifests are cancelled and go back to to_be_processed/'] as [string, string],
  };

  constructor(
    private readonly cfg: WorkflowDaemonConfig,
    private readonly log: Logger,
  ) {
    this.workflowDir = resolve(cfg.manifest_workflow_dir);
    this.outputDir = resolve(cfg.output_dir);
    // hyper2kvm's manifest daemon kept its stats in {manifest_workflow_dir}/.stats/: carry them over once.
    this.legacyStatsFile = join(this.workflowDir, '.stats', 'stats.json');
    this.dirs = new WorkflowDirs(this.workflowDir);
    this.control = new ClusterControlLink(log);
  }

  get runState() {
    return this.scheduler?.runState ?? 'running';
  }

  get inFlight(): number {
    return this.jobs?.runningManifests.length ?? 0;
  }

  async queued() {
    return { waiting: (await this.dirs.listQueued().catch(() => [])).length, retryWaiting: 0 };
  }

  get hostName(): string | undefined {
    return this.cluster?.queue.hostName;
  }

  status(s: StatsSnapshot) {
    const c = this.cluster?.queue;
    return {
      watch_dir: this.dirs.queueDir,
      output_dir: this.outputDir,
      ...(c ? { host_name: c.hostName, queue_url: c.shownUrl } : {}),
      manifests: { queued: s.current_queue_depth, processing: this.jobs?.runningManifests ?? [], processed: s.total_processed, failed: s.total_failed },
      running_vms: this.jobs?.runningVms ?? [],
    };
  }

  async prepare(): Promise<void> {
    assertApart('manifest_workflow_dir', this.workflowDir, this.outputDir);
    await mkdir(this.outputDir, { recursive: true });
    await this.dirs.ensure();
    const url = this.cfg.queue_url;
    if (!url) return;
    // The VM jobs of a lost lease run on the host that took them over; this host stops its copy.
    this.cluster = await openClusterParts({ ...this.cfg, queue_url: url, enable_deduplication: false }, this.log, (id) => {
      this.log.warn('job_lease_lost', `Job ${id} was taken over by another host (this host's heartbeats did not reach the database); cancelling it here`, { job: id });
      this.scheduler?.cancel(id);
    }, () => this.scheduler?.kick(), this.control.onDesired);
    this.queue = this.cluster.queue;
    this.ledger = await PgRunLedger.open({ url, onError: (err) => this.log.warn('queue_connection_error', err.message) });
  }

  async start(ctx: ServiceContext): Promise<void> {
    const { log, stats, metrics, changed, progressed } = ctx;
    configurePool(this.cfg.max_concurrent_jobs);
    const jobs = (this.jobs = new ManifestJobs({
      dirs: this.dirs,
      outputDir: this.outputDir,
      ...(this.cfg.manifest_source_root ? { sourceRoot: resolve(this.cfg.manifest_source_root) } : {}),
      queue: this.queue,
      ledger: this.ledger,
      jobSlots: () => this.cfg.max_concurrent_jobs,
    }));
    jobs.on('event', (e: WorkflowEvent) => {
      if (e.type === 'progress') {
        stats.jobProgress(e.jobId, e.bytesDone, e.bytesTotal);
        return progressed();
      }
      logEvent(log, e);
      if (e.type === 'run_here') stats.jobStarted(e.jobId, e.manifest, MANIFEST_TYPE, 0);
      else if (e.type === 'processed') {
        stats.succeeded(MANIFEST_TYPE, e.seconds, e.bytes, e.jobId);
        stats.jobEnded(e.jobId);
        metrics?.observeJob(MANIFEST_TYPE, e.seconds, e.bytes);
      } else if (e.type === 'failed') {
        stats.failedJob(MANIFEST_TYPE, e.jobId, e.error);
        stats.jobEnded(e.jobId);
      } else if (e.type === 'interrupted' || e.type === 'run_left') stats.jobEnded(e.jobId);
      else stats.touch();
      changed();
    });
    this.scheduler = new Scheduler({
      queue: this.queue,
      maxConcurrent: this.cfg.max_concurrent_jobs,
      run: jobs.run,
      log,
      onChange: () => {
        changed();
        if (this.cluster) this.control.report(this.cluster.queue, this.runState);
      },
      // a draining cluster host finishes what it runs; the other hosts take the rest
      drainQueue: !this.cluster,
    });
    this.control.startPausedIfAsked(this.scheduler);
    // Single host: manifests left in processing/ by a crash are taken again first. In a cluster
    // processing/ is shared: what a dead host left is its VM jobs, taken over after their lease.
    if (!this.cluster) for (const m of await this.dirs.listProcessing()) await this.queue.enqueue(jobs.takeSpec(m.name, true));
    this.intake = new ManifestIntake({
      dirs: this.dirs,
      stabilityMs: 1000,
      rescanMs: 5000,
      onStable: async (name) => {
        if (this.scheduler?.accepting && (await this.queue.enqueue(jobs.takeSpec(name)))) this.scheduler.kick();
      },
      onError: (err) => {
        const e = toH2kError(err);
        logEvent(log, { type: 'error', code: e.code, error: e.message });
      },
    });
    await this.intake.start();
    this.scheduler.kick();
    // Another host may queue VMs, or die and leave its jobs to be claimed after their lease.
    if (this.cluster) (this.pollTimer = setInterval(() => this.scheduler?.kick(), CLUSTER_POLL_MS)).unref();
    this.control.started(ctx, this.scheduler);
  }

  reconfigure(next: ServiceConfig): void {
    this.cfg.max_concurrent_jobs = next.max_concurrent_jobs;
    this.scheduler?.setMaxConcurrent(next.max_concurrent_jobs);
    configurePool(next.max_concurrent_jobs);
  }

  pause = () => this.scheduler?.pause();
  resume = () => this.scheduler?.resume();
  drain = () => this.end((s) => s.drain());
  stop = () => this.end((s) => s.stop());
  shutdown = (graceMs: number) => this.end((s) => s.shutdown(graceMs));

  /** The intake closes; the scheduler winds down as told; a single host's unfinished runs go back to to_be_processed/. */
  private async end(how: (s: Scheduler) => void): Promise<boolean> {
    await this.intake?.stop();
    if (!this.scheduler) return true;
    how(this.scheduler);
    await this.scheduler.done;
    await this.jobs?.interruptUnfinished();
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.pollTimer);
    await this.intake?.stop();
    if (this.scheduler && this.runState !== 'stopped') await this.end((s) => s.stop()).catch(() => undefined);
    await this.ledger.close().catch((err: Error) => this.log.warn('queue_close_failed', err.message));
    await this.cluster?.close().catch((err: Error) => this.log.warn('queue_close_failed', err.message));
    this.cluster = undefined;
  }
}

/** `h2k daemon --manifest-workflow-mode`: the shell around a ManifestSource. */
export function manifestWorkflowService(cfg: WorkflowDaemonConfig, log: Logger, opts: ServiceOptions = {}): Service {
  return new Service(new ManifestSource(cfg, log), { ...cfg }, log, opts);
}
