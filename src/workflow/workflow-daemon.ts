// `h2k daemon --manifest-workflow-mode`: runs the manifest workflow service in the foreground
// with the watch-folder daemon's operator surface (src/daemon's control socket, stats.json,
// Prometheus metrics, SIGUSR1), so `h2k ctl status|stats|pause|resume|drain|stop` reach it.
// SIGTERM/SIGINT drain; a second one stops (running manifests are cancelled, their outputs
// removed, and they go back to to_be_processed/).
import type { Server } from 'node:http';
import { existsSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ControlServer } from '../daemon/control-server.js';
import type { ControlCommand, ControlReply } from '../daemon/control-protocol.js';
import { daemonPaths, h2kVersion, sameOrInside } from '../daemon/daemon.js';
import type { Logger } from '../daemon/logger.js';
import { DaemonMetrics, startMetricsServer } from '../daemon/metrics.js';
import { logStats, StatsFile } from '../daemon/stats-file.js';
import { DaemonStats, type StatsSnapshot } from '../daemon/stats.js';
import { configurePool } from '../pool/pool.js';
import { systemdNotify } from '../service/systemd-notify.js';
import { H2kError } from '../util/errors.js';
import { ManifestWorkflowService, type WorkflowEvent } from './workflow-service.js';

export interface WorkflowDaemonConfig {
  manifest_workflow_dir: string;
  output_dir: string;
  max_concurrent_jobs: number;
  control_socket?: string;
  metrics_listen?: string;
  stats_interval?: number;
  manifest_source_root?: string;
}

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

export async function runManifestWorkflowDaemon(cfg: WorkflowDaemonConfig, log: Logger, handleSignals = true): Promise<number> {
  const workflowDir = resolve(cfg.manifest_workflow_dir);
  const outputDir = resolve(cfg.output_dir);
  if (sameOrInside(workflowDir, outputDir) || sameOrInside(outputDir, workflowDir))
    throw new H2kError('manifest_workflow_dir and output_dir must be separate directories, neither inside the other', {
      code: 'E_CONFIG', hint: `manifest_workflow_dir=${workflowDir} output_dir=${outputDir}`,
    });
  const paths = daemonPaths({ output_dir: outputDir, control_socket: cfg.control_socket });
  await mkdir(outputDir, { recursive: true });
  await mkdir(paths.stateDir, { recursive: true, mode: 0o700 });
  await chmod(paths.stateDir, 0o700);
  const version = await h2kVersion();
  configurePool(cfg.max_concurrent_jobs);
  const service = new ManifestWorkflowService({
    workflowDir,
    outputDir,
    maxConcurrentJobs: cfg.max_concurrent_jobs,
    ...(cfg.manifest_source_root ? { sourceRoot: resolve(cfg.manifest_source_root) } : {}),
  });
  const stats = new DaemonStats();
  let queued = 0;
  const snapshot = async (): Promise<StatsSnapshot> => {
    queued = (await service.dirs.listQueued().catch(() => [])).length;
    return stats.snapshot({ state: service.runState, queueDepth: queued, retryWaiting: 0, inFlight: service.runningManifests.length });
  };
  const sd = systemdNotify(log);
  const statsFile = new StatsFile(paths.statsFile, async () => { const s = await snapshot(); sd.status(s); return s; }, log);
  const metrics = cfg.metrics_listen ? new DaemonMetrics({ fileTypes: [MANIFEST_TYPE], version }) : undefined;

  service.on('event', (e: WorkflowEvent) => {
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
    statsFile.schedule();
  });

  let finish!: (clean: boolean) => void;
  const finished = new Promise<boolean>((r) => (finish = r));
  let ending: 'drain' | 'stop' | undefined;
  const drain = (why: string) => {
    if (ending) return;
    ending = 'drain';
    log.info('daemon_draining', `Draining (${why}): no new manifests taken; finishing those in processing/`);
    sd.stopping(why);
    void service.drain().then(() => finish(true));
    statsFile.schedule();
  };
  const stop = (why: string) => {
    if (ending === 'stop') return;
    ending = 'stop';
    log.info('daemon_stopping', `Stopping (${why}): cancelling running manifests; they go back to to_be_processed/`);
    sd.stopping(why);
    void service.stop().then(finish);
    statsFile.schedule();
  };

  const onControl = async (command: ControlCommand): Promise<ControlReply> => {
    switch (command) {
      case 'status': {
        const s = await snapshot();
        return {
          status: 'ok',
          mode: 'manifest_workflow',
          state: service.runState,
          paused: service.runState === 'paused',
          draining: service.runState === 'draining',
          pid: process.pid,
          version,
          uptime_seconds: s.uptime_seconds,
          queue_depth: s.current_queue_depth,
          in_flight: s.in_flight,
          watch_dir: service.dirs.queueDir,
          output_dir: outputDir,
          manifests: {
            queued: s.current_queue_depth,
            processing: service.runningManifests,
            processed: s.total_processed,
            failed: s.total_failed,
          },
          running_vms: service.runningVms,
        };
      }
      case 'stats':
        return { status: 'ok', stats: await snapshot() };
      case 'pause':
        if (service.runState === 'running') log.info('daemon_paused', 'Daemon paused (running manifests finish; no new ones are taken)');
        service.pause();
        statsFile.schedule();
        return { status: 'ok', message: 'Daemon paused' };
      case 'resume':
        if (service.runState === 'paused') log.info('daemon_resumed', 'Daemon resumed');
        service.resume();
        statsFile.schedule();
        return { status: 'ok', message: 'Daemon resumed' };
      case 'drain':
        drain('control socket');
        return { status: 'ok', message: 'Draining: running manifests finish, then the daemon exits' };
      case 'stop':
        stop('control socket');
        return { status: 'ok', message: 'Stopping daemon: running manifests are cancelled and go back to to_be_processed/' };
    }
  };

  // The control socket first: it refuses to start when another daemon owns this output_dir.
  const control = new ControlServer(paths.socket, onControl);
  await control.start();
  let metricsServer: Server | undefined;
  const signalHandlers: [NodeJS.Signals, () => void][] = [];
  const closeAll = async () => {
    statsFile.stop();
    sd.close();
    if (metricsServer) {
      const m = metricsServer;
      m.closeAllConnections();
      await new Promise<void>((r) => m.close(() => r()));
    }
    await control.close();
    for (const [sig, fn] of signalHandlers) process.off(sig, fn);
  };
  try {
    // hyper2kvm's manifest daemon kept its stats in {manifest_workflow_dir}/.stats/: carry them over once.
    const statsSource = existsSync(paths.statsFile) ? paths.statsFile : join(workflowDir, '.stats', 'stats.json');
    if (await stats.load(statsSource))
      log.info('stats_loaded', `Loaded stats from ${statsSource}: ${stats.snapshot({ state: 'running', queueDepth: 0, retryWaiting: 0, inFlight: 0 }).total_processed} processed before`);
    if (metrics && cfg.metrics_listen) {
      const started = await startMetricsServer(cfg.metrics_listen, metrics, snapshot);
      metricsServer = started.server;
      log.info('metrics_listening', `Metrics: http://${started.address}/metrics`, { address: started.address });
    }
    if (handleSignals) {
      let interrupts = 0;
      const on = (sig: NodeJS.Signals, fn: () => void) => {
        process.on(sig, fn);
        signalHandlers.push([sig, fn]);
      };
      on('SIGTERM', () => (ending ? stop('second SIGTERM') : drain('SIGTERM')));
      on('SIGINT', () => (++interrupts === 1 ? drain('SIGINT; press Ctrl-C again to stop now') : stop('SIGINT')));
      on('SIGUSR1', () => void snapshot().then((s) => logStats(log, s)));
    }
    await service.start();
    statsFile.startInterval(cfg.stats_interval ?? 60);
    await statsFile.write();
  } catch (err) {
    await service.stop(0).catch(() => undefined);
    await closeAll();
    throw err;
  }
  log.info('daemon_started', `Manifest workflow started: ${workflowDir}/to_be_processed -> ${outputDir} (${cfg.max_concurrent_jobs} concurrent jobs, control socket ${paths.socket})`, {
    pid: process.pid, version, mode: 'manifest_workflow',
  });
  sd.ready();
  const clean = await finished;
  await statsFile.write();
  await closeAll();
  const s = await snapshot();
  log.info('daemon_stopped', `Manifest workflow stopped: ${s.total_processed} processed, ${s.total_failed} failed`);
  return clean ? 0 : 1;
}
