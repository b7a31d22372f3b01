// `h2k daemon --manifest-workflow-mode`: runs the manifest workflow service in the foreground,
// logs every move through the daemon's logger; SIGTERM/SIGINT drain (a second one stops now,
// leaving cancelled manifests in processing/ to be taken again on the next start).
import { mkdir } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { Logger } from '../daemon/logger.js';
import { configurePool } from '../pool/pool.js';
import { H2kError } from '../util/errors.js';
import { ManifestWorkflowService, type WorkflowEvent } from './workflow-service.js';

export interface WorkflowDaemonConfig {
  manifest_workflow_dir: string;
  output_dir: string;
  max_concurrent_jobs: number;
}

function overlaps(a: string, b: string): boolean {
  const rel = relative(a, b);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

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
      log.warn('manifest_interrupted', `Manifest interrupted, stays in processing/: ${e.manifest}`, { manifest: e.manifest, job_id: e.jobId });
      break;
    case 'error':
      log.error('workflow_error', `${e.manifest ? `${e.manifest}: ` : ''}${e.error} [${e.code}]`, { manifest: e.manifest, code: e.code });
      break;
  }
}

export async function runManifestWorkflowDaemon(cfg: WorkflowDaemonConfig, log: Logger, handleSignals = true): Promise<number> {
  const workflowDir = resolve(cfg.manifest_workflow_dir);
  const outputDir = resolve(cfg.output_dir);
  if (overlaps(workflowDir, outputDir) || overlaps(outputDir, workflowDir))
    throw new H2kError('manifest_workflow_dir and output_dir must be separate directories, neither inside the other', {
      code: 'E_CONFIG', hint: `manifest_workflow_dir=${workflowDir} output_dir=${outputDir}`,
    });
  await mkdir(outputDir, { recursive: true });
  configurePool(cfg.max_concurrent_jobs);
  const service = new ManifestWorkflowService({ workflowDir, outputDir, maxConcurrentJobs: cfg.max_concurrent_jobs });
  service.on('event', (e: WorkflowEvent) => logEvent(log, e));

  let finish!: (clean: boolean) => void;
  const finished = new Promise<boolean>((r) => (finish = r));
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      log.info('daemon_draining', `Draining (${sig}): no new manifests taken; finishing those in processing/`);
      void service.drain().then(() => finish(true));
    } else {
      log.info('daemon_stopping', `Stopping (${sig}): cancelling running manifests; they stay in processing/`);
      void service.stop().then(finish);
    }
  };
  if (handleSignals) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  await service.start();
  log.info('daemon_started', `Manifest workflow started: ${workflowDir}/to_be_processed -> ${outputDir} (${cfg.max_concurrent_jobs} concurrent jobs)`, {
    pid: process.pid, mode: 'manifest_workflow',
  });
  const clean = await finished;
  if (handleSignals) {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  const s = service.stats;
  log.info('daemon_stopped', `Manifest workflow stopped: ${s.processed} processed, ${s.failed} failed`);
  return clean ? 0 : 1;
}
