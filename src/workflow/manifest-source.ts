// The manifest-directory job source of `h2k daemon --manifest-workflow-mode`: the manifest
// workflow service behind the service shell (src/service/service.ts), which gives it the control
// socket, stats.json, metrics and signals. Stop cancels running manifests, removes their outputs
// and puts them back in to_be_processed/.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '../service/logger.js';
import { assertApart } from '../service/paths.js';
import type { JobSource, ServiceConfig, ServiceContext } from '../service/job-source.js';
import { Service, type ServiceOptions } from '../service/service.js';
import type { StatsSnapshot } from '../service/stats.js';
import { configurePool } from '../pool/pool.js';
import { ManifestWorkflowService, type WorkflowEvent } from './workflow-service.js';

export type WorkflowDaemonConfig = ServiceConfig & { manifest_workflow_dir: string; manifest_source_root?: string };

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
  readonly service: ManifestWorkflowService;
  readonly words = {
    name: 'Manifest workflow',
    route: () => `${this.workflowDir}/to_be_processed -> ${this.outputDir}`,
    drain: ['no new manifests taken; finishing those in processing/', 'Draining: running manifests finish, then the daemon exits'] as [string, string],
    stop: ['cancelling running manifests; they go back to to_be_processed/', 'Stopping daemon: running manifests are cancelled and go back to to_be_processed/'] as [string, string],
  };

  constructor(private readonly cfg: WorkflowDaemonConfig) {
    this.workflowDir = resolve(cfg.manifest_workflow_dir);
    this.outputDir = resolve(cfg.output_dir);
    // hyper2kvm's manifest daemon kept its stats in {manifest_workflow_dir}/.stats/: carry them over once.
    this.legacyStatsFile = join(this.workflowDir, '.stats', 'stats.json');
    this.service = new ManifestWorkflowService({
      workflowDir: this.workflowDir,
      outputDir: this.outputDir,
      maxConcurrentJobs: cfg.max_concurrent_jobs,
      ...(cfg.manifest_source_root ? { sourceRoot: resolve(cfg.manifest_source_root) } : {}),
    });
  }

  get runState() {
    return this.service.runState;
  }

  get inFlight(): number {
    return this.service.runningManifests.length;
  }

  async queued() {
    return { waiting: (await this.service.dirs.listQueued().catch(() => [])).length, retryWaiting: 0 };
  }

  status(s: StatsSnapshot) {
    return {
      watch_dir: this.service.dirs.queueDir,
      output_dir: this.outputDir,
      manifests: { queued: s.current_queue_depth, processing: this.service.runningManifests, processed: s.total_processed, failed: s.total_failed },
      running_vms: this.service.runningVms,
    };
  }

  async prepare(): Promise<void> {
    assertApart('manifest_workflow_dir', this.workflowDir, this.outputDir);
    await mkdir(this.outputDir, { recursive: true });
  }

  async start({ log, stats, metrics, changed, progressed }: ServiceContext): Promise<void> {
    configurePool(this.cfg.max_concurrent_jobs);
    this.service.on('event', (e: WorkflowEvent) => {
      if (e.type === 'progress') {
        stats.jobProgress(e.jobId, e.bytesDone, e.bytesTotal);
        return progressed();
      }
      logEvent(log, e);
      if (e.type === 'taken') stats.jobStarted(e.jobId, e.manifest, MANIFEST_TYPE, 0);
      else if (e.type === 'processed') {
        stats.succeeded(MANIFEST_TYPE, e.seconds, e.bytes, e.jobId);
        stats.jobEnded(e.jobId);
        metrics?.observeJob(MANIFEST_TYPE, e.seconds, e.bytes);
      } else if (e.type === 'failed') {
        stats.failedJob(MANIFEST_TYPE, e.jobId, e.error);
        stats.jobEnded(e.jobId);
      } else if (e.type === 'interrupted') stats.jobEnded(e.jobId);
      else if (e.type === 'vm') stats.touch();
      changed();
    });
    await this.service.start();
  }

  reconfigure(next: ServiceConfig): void {
    this.service.setMaxConcurrentJobs(next.max_concurrent_jobs);
    configurePool(next.max_concurrent_jobs);
  }

  pause = () => this.service.pause();
  resume = () => this.service.resume();
  drain = () => this.service.drain().then(() => true);
  stop = () => this.service.stop();
  shutdown = (graceMs: number) => this.service.shutdown(graceMs);

  async close(): Promise<void> {
    if (this.runState !== 'stopped') await this.service.stop(0).catch(() => undefined);
  }
}

/** `h2k daemon --manifest-workflow-mode`: the shell around a ManifestSource. */
export function manifestWorkflowService(cfg: WorkflowDaemonConfig, log: Logger, opts: ServiceOptions = {}): Service {
  return new Service(new ManifestSource(cfg), { ...cfg }, log, opts);
}
