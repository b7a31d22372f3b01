// The manifest-directory job source of `h2k daemon --manifest-workflow-mode`: the manifest
// workflow on the daemon's JobQueue seam (manifest-jobs.ts), behind the service shell
// (src/service/service.ts). Single host: the in-memory queue and run ledger; stop cancels
// running manifests, removes their outputs and puts them back in to_be_processed/. With
// queue_url: the cluster's PostgreSQL queue and run ledger; several hosts share one manifest
// folder, a stopping host's VMs go back to the queue for the others.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '../service/logger.js';
import { assertApart } from '../service/paths.js';
import type { JobSource, ServiceConfig, ServiceContext } from '../service/job-source.js';
import { Service, type ServiceOptions } from '../service/service.js';
import type { StatsSnapshot } from '../service/stats.js';
import type { ClusterConfig } from '../daemon/cluster-parts.js';
import { PgRunLedger } from '../daemon/queue/pg-run-ledger.js';
import { ScheduledSource } from '../daemon/scheduled-source.js';
import { toH2kError } from '../util/errors.js';
import { ManifestIntake } from './manifest-intake.js';
import { ManifestJobs, type WorkflowEvent } from './manifest-jobs.js';
import { MemoryRunLedger, type RunLedger } from './run-ledger.js';
import { WorkflowDirs } from './workflow-dirs.js';

export type WorkflowDaemonConfig = ServiceConfig & Omit<ClusterConfig, 'queue_url'> & {
  manifest_workflow_dir: string;
  manifest_source_root?: string;
};

/** Stats count manifests, all under one file type. */
const MANIFEST_TYPE = 'manifest';

function logEvent(log: Logger, e: WorkflowEvent): void {
  switch (e.type) {
    case 'taken':
      return log.info('manifest_taken', `Manifest ${e.recovered ? 'taken again after restart' : 'taken'}: ${e.manifest}`, { manifest: e.manifest, job_id: e.jobId });
    case 'cleaned':
      return log.warn('manifest_cleaned', `Removed outputs of an interrupted run of ${e.manifest}: ${e.removed.join(', ') || 'none left'}`, { manifest: e.manifest, removed: e.removed });
    case 'processed':
      return log.info('manifest_processed', `Manifest processed: ${e.manifest} in ${e.seconds.toFixed(1)}s -> ${e.path}`, { manifest: e.manifest, job_id: e.jobId, path: e.path, report: e.report });
    case 'failed':
      return log.error('manifest_failed', `Manifest failed at ${e.stage}: ${e.error} [${e.code}] -> ${e.path}`, { manifest: e.manifest, job_id: e.jobId, path: e.path, stage: e.stage, code: e.code });
    case 'interrupted':
      return log.warn('manifest_interrupted', `Manifest cancelled: ${e.manifest} ${e.requeued ? 'back in to_be_processed/' : 'stays in processing/ (a namesake is queued)'}; removed ${e.removed.length} output(s)`, {
        manifest: e.manifest, job_id: e.jobId, requeued: e.requeued, removed: e.removed,
      });
    case 'vm':
      return log.debug('vm_stage', `${e.manifest}: ${e.vm} ${e.stage === 'done' ? 'finished' : `-> ${e.stage}`}`, { manifest: e.manifest, vm: e.vm, stage: e.stage });
    case 'error':
      return log.error('workflow_error', `${e.manifest ? `${e.manifest}: ` : ''}${e.error} [${e.code}]`, { manifest: e.manifest, code: e.code });
  }
}

export class ManifestSource extends ScheduledSource<WorkflowDaemonConfig> implements JobSource {
  readonly mode = 'manifest_workflow';
  readonly fileTypes = [MANIFEST_TYPE];
  readonly dirs = new WorkflowDirs(resolve(this.cfg.manifest_workflow_dir));
  readonly outputDir = resolve(this.cfg.output_dir);
  /** hyper2kvm's manifest daemon kept its stats in {manifest_workflow_dir}/.stats/: carried over once */
  readonly legacyStatsFile = join(this.dirs.root, '.stats', 'stats.json');
  /** with queue_url: the cluster's, opened beside its shared queue */
  private ledger: RunLedger = new MemoryRunLedger();
  private jobs?: ManifestJobs;
  private intake?: ManifestIntake;
  readonly words = {
    name: 'Manifest workflow',
    route: () => `${this.dirs.root}/to_be_processed -> ${this.outputDir}`,
    drain: ['no new manifests taken; finishing those in processing/', 'Draining: running manifests finish, then the daemon exits'] as [string, string],
    stop: ['cancelling running manifests; they go back to to_be_processed/', 'Stopping daemon: running manifests are cancelled and go back to to_be_processed/'] as [string, string],
  };

  get inFlight(): number {
    return this.jobs?.runningManifests.length ?? 0;
  }

  async queued() {
    return { waiting: (await this.dirs.listQueued().catch(() => [])).length, retryWaiting: 0 };
  }

  status(s: StatsSnapshot) {
    return {
      watch_dir: this.dirs.queueDir, output_dir: this.outputDir, ...this.clusterStatus(),
      manifests: { queued: s.current_queue_depth, processing: this.jobs?.runningManifests ?? [], processed: s.total_processed, failed: s.total_failed },
      running_vms: this.jobs?.runningVms ?? [],
    };
  }

  async prepare(): Promise<void> {
    assertApart('manifest_workflow_dir', this.dirs.root, this.outputDir);
    await mkdir(this.outputDir, { recursive: true });
    await this.dirs.ensure();
    // The VM jobs of a lost lease run on the host that took them over; this host stops its copy.
    await this.joinCluster('job', { enable_deduplication: false });
    const url = this.cfg.queue_url;
    if (url) this.ledger = await PgRunLedger.open({ url, onError: (err) => this.log.warn('queue_connection_error', err.message) });
  }

  async start(ctx: ServiceContext): Promise<void> {
    const { stats, metrics, changed, progressed } = ctx;
    const jobs = (this.jobs = new ManifestJobs({
      dirs: this.dirs, outputDir: this.outputDir, queue: this.queue, ledger: this.ledger,
      ...(this.cfg.manifest_source_root ? { sourceRoot: resolve(this.cfg.manifest_source_root) } : {}),
      jobSlots: () => this.cfg.max_concurrent_jobs,
    }));
    jobs.on('event', (e: WorkflowEvent) => {
      if (e.type === 'progress') {
        stats.jobProgress(e.jobId, e.bytesDone, e.bytesTotal);
        return progressed();
      }
      logEvent(this.log, e);
      if (e.type === 'run_here') stats.jobStarted(e.jobId, e.manifest, MANIFEST_TYPE, 0);
      else if (e.type === 'processed') {
        stats.succeeded(MANIFEST_TYPE, e.seconds, e.bytes, e.jobId);
        metrics?.observeJob(MANIFEST_TYPE, e.seconds, e.bytes);
      } else if (e.type === 'failed') stats.failedJob(MANIFEST_TYPE, e.jobId, e.error);
      else if (e.type !== 'interrupted' && e.type !== 'run_left') stats.touch();
      if (e.type === 'processed' || e.type === 'failed' || e.type === 'interrupted' || e.type === 'run_left') stats.jobEnded(e.jobId);
      changed();
    });
    const scheduler = this.startScheduler(ctx, { run: jobs.run });
    // Single host: manifests left in processing/ by a crash are taken again first. In a cluster
    // processing/ is shared: what a dead host left is its VM jobs, taken over after their lease.
    if (!this.cluster) for (const m of await this.dirs.listProcessing()) await this.queue.enqueue(jobs.takeSpec(m.name, true));
    this.intake = new ManifestIntake({
      dirs: this.dirs, stabilityMs: 1000, rescanMs: 5000,
      onStable: async (name) => {
        if (scheduler.accepting && (await this.queue.enqueue(jobs.takeSpec(name)))) scheduler.kick();
      },
      onError: (err) => {
        const e = toH2kError(err);
        logEvent(this.log, { type: 'error', code: e.code, error: e.message });
      },
    });
    await this.intake.start();
    scheduler.kick();
    this.started(ctx);
  }

  protected async stopIntake(): Promise<void> {
    await this.intake?.stop();
  }

  /** A single host's unfinished runs go back to to_be_processed/. */
  protected override async settleEnd(): Promise<void> {
    await this.jobs?.interruptUnfinished();
  }

  protected async closeOwn(): Promise<void> {
    await this.intake?.stop();
    if (this.scheduler && this.runState !== 'stopped') await this.end((s) => s.stop()).catch(() => undefined);
    await this.ledger.close().catch((err: Error) => this.log.warn('queue_close_failed', err.message));
  }
}

/** `h2k daemon --manifest-workflow-mode`: the shell around a ManifestSource. */
export function manifestWorkflowService(cfg: WorkflowDaemonConfig, log: Logger, opts: ServiceOptions = {}): Service {
  return new Service(new ManifestSource(cfg, log), { ...cfg }, log, opts);
}
