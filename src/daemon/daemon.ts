// `h2k daemon`: wires the watcher, queue, scheduler, job runner, stats, metrics, control socket,
// notifications and dedup store together, and owns start-up recovery and orderly shutdown.
import { mkdir, chmod, readFile, realpath } from 'node:fs/promises';
import { join, resolve, relative, isAbsolute, sep } from 'node:path';
import { convertImage } from '../convert/convert-image.js';
import type { DaemonConfig } from '../config/daemon-schema.js';
import { guestFixRequest } from '../config/guest-output-schema.js';
import { loadAddon, packageRoot } from '../native/addon.js';
import { configurePool, warmPool } from '../pool/pool.js';
import { systemdNotify, type SystemdNotify } from '../service/systemd-notify.js';
import { H2kError } from '../util/errors.js';
import { ControlServer } from './control-server.js';
import type { ControlCommand, ControlReply } from './control-protocol.js';
import { Deduplicator } from './dedup.js';
import { assertGuestToolsForFixes } from './guest-stage.js';
import { JobRunner, type ConvertFn } from './job-runner.js';
import type { Logger } from './logger.js';
import { DaemonMetrics, startMetricsServer } from './metrics.js';
import { Notifier } from './notify/notifier.js';
import { MemoryJobQueue } from './queue/memory-queue.js';
import type { JobQueue, JobSpec } from './queue/job-queue.js';
import { removeStalePartials } from './recovery.js';
import { Scheduler } from './scheduler.js';
import { StallMonitor } from './stall-monitor.js';
import { DaemonStats, type StatsSnapshot } from './stats.js';
import { logStats, StatsFile } from './stats-file.js';
import { WatchFolder } from './watcher.js';

export interface DaemonPaths {
  stateDir: string;
  statsFile: string;
  socket: string;
  dedupDb: string;
}

export function daemonPaths(cfg: Pick<DaemonConfig, 'output_dir' | 'control_socket'>): DaemonPaths {
  const stateDir = join(resolve(cfg.output_dir), '.daemon');
  return {
    stateDir,
    statsFile: join(stateDir, 'stats.json'),
    socket: cfg.control_socket ? resolve(cfg.control_socket) : join(stateDir, 'control.sock'),
    dedupDb: join(stateDir, 'deduplication.db'),
  };
}

export async function h2kVersion(): Promise<string> {
  try {
    return (JSON.parse(await readFile(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** True when `child` is `parent` itself or lies beneath it (lexically). */
export function sameOrInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

export interface DaemonOptions {
  /** replaces convertImage (tests inject failures); production leaves it unset */
  convert?: ConvertFn;
  queue?: JobQueue;
  /** install SIGTERM/SIGINT/SIGUSR1 handlers (the CLI does; in-process tests don't) */
  handleSignals?: boolean;
}

export class Daemon {
  readonly cfg: DaemonConfig;
  readonly paths: DaemonPaths;
  readonly stats = new DaemonStats();
  private readonly queue: JobQueue;
  private scheduler!: Scheduler;
  private watcher?: WatchFolder;
  private control?: ControlServer;
  private metrics?: DaemonMetrics;
  private metricsServer?: import('node:http').Server;
  private notifier!: Notifier;
  private dedup?: Deduplicator;
  private stall?: StallMonitor;
  private readonly statsFile: StatsFile;
  /** sd_notify; a reload calls systemd.reloading() before and systemd.ready() after */
  readonly systemd: SystemdNotify;
  private version = '0.0.0';
  private signalHandlers: [NodeJS.Signals, () => void][] = [];
  metricsAddress?: string;

  constructor(cfg: DaemonConfig, private readonly log: Logger, private readonly opts: DaemonOptions = {}) {
    this.cfg = { ...cfg, watch_dir: resolve(cfg.watch_dir), output_dir: resolve(cfg.output_dir) };
    this.paths = daemonPaths(this.cfg);
    this.queue = opts.queue ?? new MemoryJobQueue();
    this.systemd = systemdNotify(log);
    this.statsFile = new StatsFile(this.paths.statsFile, async () => { const s = await this.snapshot(); this.systemd.status(s); return s; }, log);
  }

  /** Starts everything; resolves once the watcher has scanned the folder. On failure nothing stays open. */
  async start(): Promise<void> {
    try {
      await this.startParts();
    } catch (err) {
      await this.watcher?.stop().catch(() => undefined);
      this.stall?.stop();
      this.statsFile.stop();
      this.dedup?.close();
      this.systemd.close();
      await this.closeServers();
      throw err;
    }
  }

  private async closeServers(): Promise<void> {
    const m = this.metricsServer;
    this.metricsServer = undefined;
    if (m) {
      m.closeAllConnections();
      await new Promise<void>((r) => m.close(() => r()));
    }
    await this.control?.close();
  }

  private async startParts(): Promise<void> {
    const cfg = this.cfg;
    if (sameOrInside(cfg.watch_dir, cfg.output_dir) || sameOrInside(cfg.output_dir, cfg.watch_dir))
      throw new H2kError('watch_dir and output_dir must be separate directories, neither inside the other', {
        code: 'E_CONFIG',
        hint: `watch_dir=${cfg.watch_dir} output_dir=${cfg.output_dir}`,
      });
    assertGuestToolsForFixes(cfg);
    this.version = await h2kVersion();
    for (const d of [cfg.watch_dir, cfg.output_dir, join(cfg.watch_dir, '.processed'), join(cfg.watch_dir, '.errors')])
      await mkdir(d, { recursive: true });
    // The watcher never follows links (drop-guard.ts), so it must be given the real directories:
    // a configured watch_dir that is itself a symlink (trusted, the operator's) is resolved here.
    cfg.watch_dir = await realpath(cfg.watch_dir);
    cfg.output_dir = await realpath(cfg.output_dir);
    if (sameOrInside(cfg.watch_dir, cfg.output_dir) || sameOrInside(cfg.output_dir, cfg.watch_dir))
      throw new H2kError('watch_dir and output_dir must be separate directories, neither inside the other', {
        code: 'E_CONFIG',
        hint: `watch_dir=${cfg.watch_dir} output_dir=${cfg.output_dir} (after resolving symlinks)`,
      });
    await mkdir(this.paths.stateDir, { recursive: true, mode: 0o700 });
    await chmod(this.paths.stateDir, 0o700);

    this.scheduler = new Scheduler({
      queue: this.queue,
      maxConcurrent: cfg.max_concurrent_jobs,
      run: (job, signal) => this.runner.run(job, signal),
      log: this.log,
      onChange: () => this.scheduleStatsWrite(),
      onReleased: (job) => this.watcher?.release(job.files),
      onSettled: (job) => this.watcher?.release(job.files),
    });

    // The control socket first: it refuses to start when another daemon owns this output_dir,
    // before recovery could delete that daemon's in-progress .partial files.
    this.control = new ControlServer(this.paths.socket, (c) => this.onControl(c));
    await this.control.start();

    for (const p of await removeStalePartials(cfg.output_dir))
      this.log.warn('partial_removed', `Removed stale partial output: ${p}`, { file: p });
    if (await this.stats.load(this.paths.statsFile))
      this.log.info('stats_loaded', `Loaded stats: ${this.stats.snapshot(this.live(0, 0, 0)).total_processed} processed before`);

    if (cfg.enable_deduplication) {
      this.dedup = await Deduplicator.open({
        dbPath: this.paths.dedupDb,
        useHash: cfg.deduplication_use_md5,
        hash: cfg.deduplication_hash,
        log: this.log,
      });
    }
    this.notifier = new Notifier(cfg.notifications, this.log);

    if (cfg.metrics_listen) {
      this.metrics = new DaemonMetrics({ fileTypes: cfg.file_extensions, version: this.version });
      const { server, address } = await startMetricsServer(cfg.metrics_listen, this.metrics, () => this.snapshot());
      this.metricsServer = server;
      this.metricsAddress = address;
      this.log.info('metrics_listening', `Metrics: http://${address}/metrics`, { address });
    }

    // The converter's and hasher's own opens follow the drop rules too (O_NOFOLLOW, one name,
    // regular): nothing swapped in after the daemon's lstat checks is read.
    loadAddon().setPlainFilesOnly(true);
    configurePool(cfg.max_concurrent_jobs);
    // hyper2kvm users get fixes from its defaults; here only when asked for: say which way it is
    const fixKeys = guestFixRequest(cfg);
    if (fixKeys.length > 0)
      this.log.info('guest_fixes_on', `Guest fixes on (asked for by ${fixKeys.join(', ')}): each job's boot disk is fixed after conversion`, { keys: fixKeys });
    if (cfg.emit_domain_xml) this.log.info('domain_xml_on', 'emit_domain_xml: each job writes <vm>.xml beside its disks');
    this.runnerInstance = new JobRunner({
      cfg,
      log: this.log,
      stats: this.stats,
      notifier: this.notifier,
      dedup: this.dedup,
      convert: this.opts.convert ?? convertImage,
      version: this.version,
      observeDuration: (type, s, bytes) => this.metrics?.observeJob(type, s, bytes),
    });

    if (cfg.notifications.enabled && cfg.notifications.on_stalled) {
      this.stall = new StallMonitor({
        thresholdMs: cfg.notifications.stall_threshold_minutes * 60_000,
        lastActivity: () => this.stats.lastActivity,
        queueDepth: async () => (await this.queue.counts(Date.now())).waiting,
        onStalled: ({ queueDepth, idleMinutes, lastActivity }) => {
          this.log.warn('daemon_stalled', `Daemon stalled: ${queueDepth} job(s) waiting, idle for ${idleMinutes} min`, {
            queue_depth: queueDepth,
          });
          this.notifier.notify({
            event: 'daemon_stalled',
            queue_depth: queueDepth,
            idle_minutes: idleMinutes,
            last_activity: lastActivity.toISOString(),
            timestamp: new Date().toISOString(),
          });
        },
      });
      this.stall.start();
    }

    this.watcher = new WatchFolder({
      watchDir: cfg.watch_dir,
      extensions: cfg.file_extensions,
      stableMs: cfg.file_stable_timeout * 1000,
      extentWaitMs: cfg.extent_wait_timeout * 1000,
      log: this.log,
      onJob: (spec) => void this.enqueue(spec),
      // the pool's threads start (~0.3 s each) while the file settles, not when its job does
      onSeen: this.opts.convert ? undefined : warmPool,
      onRefuse: ({ files, error, phase }) =>
        void this.runner.refuse(files, error, phase).finally(() => {
          this.scheduleStatsWrite();
          this.watcher?.release(files);
        }),
    });
    await this.watcher.start();

    this.statsFile.startInterval(cfg.stats_interval);
    await this.statsFile.write();
    if (this.opts.handleSignals) this.installSignals();
    this.log.info('daemon_started', `Daemon started: watching ${cfg.watch_dir} -> ${cfg.output_dir} (${cfg.max_concurrent_jobs} concurrent jobs, control socket ${this.paths.socket})`, {
      pid: process.pid,
      version: this.version,
    });
    this.systemd.ready();
  }

  private runnerInstance?: JobRunner;
  private get runner(): JobRunner {
    return this.runnerInstance!;
  }

  private async enqueue(spec: JobSpec): Promise<void> {
    if (!this.scheduler.accepting) return;
    if (await this.queue.enqueue(spec)) {
      this.stats.touch();
      this.log.info('job_queued', `New file queued: ${spec.files.map((f) => f.slice(this.cfg.watch_dir.length + 1)).join(' + ')}`, {
        file: spec.primary,
        files: spec.files,
        size: spec.sizeBytes,
      });
      this.scheduleStatsWrite();
      this.scheduler.kick();
    }
  }

  private live(queueDepth: number, retryWaiting: number, inFlight: number) {
    return { state: this.scheduler?.runState ?? 'running', queueDepth, retryWaiting, inFlight };
  }

  async snapshot(): Promise<StatsSnapshot> {
    const c = await this.queue.counts(Date.now());
    return this.stats.snapshot(this.live(c.waiting, c.retryWaiting, this.scheduler.inFlightCount));
  }

  private scheduleStatsWrite(): void {
    this.statsFile.schedule();
  }

  async logStats(): Promise<void> {
    logStats(this.log, await this.snapshot());
  }

  private async onControl(command: ControlCommand): Promise<ControlReply> {
    switch (command) {
      case 'status': {
        const s = await this.snapshot();
        return {
          status: 'ok',
          state: this.scheduler.runState,
          paused: this.scheduler.isPaused,
          draining: this.scheduler.runState === 'draining',
          pid: process.pid,
          version: this.version,
          uptime_seconds: s.uptime_seconds,
          queue_depth: s.current_queue_depth,
          in_flight: s.in_flight,
          watch_dir: this.cfg.watch_dir,
          output_dir: this.cfg.output_dir,
        };
      }
      case 'stats':
        return { status: 'ok', stats: await this.snapshot() };
      case 'pause':
        if (!this.scheduler.isPaused) this.log.info('daemon_paused', 'Daemon paused (running jobs finish; no new ones start)');
        this.scheduler.pause();
        return { status: 'ok', message: 'Daemon paused' };
      case 'resume':
        if (this.scheduler.isPaused) this.log.info('daemon_resumed', 'Daemon resumed');
        this.scheduler.resume();
        return { status: 'ok', message: 'Daemon resumed' };
      case 'drain':
        this.drain('control socket');
        return { status: 'ok', message: 'Draining queue; the daemon exits when it is empty' };
      case 'stop':
        this.stop('control socket');
        return { status: 'ok', message: 'Stopping daemon' };
    }
  }

  drain(why: string): void {
    if (!this.scheduler.accepting) return;
    this.log.info('daemon_draining', `Draining (${why}): no new files accepted; finishing the queue`);
    this.systemd.stopping(why);
    void this.watcher?.stop();
    this.scheduler.drain();
  }

  stop(why: string): void {
    this.log.info('daemon_stopping', `Stopping (${why}): cancelling running jobs; their sources stay in the watch folder`);
    this.systemd.stopping(why);
    void this.watcher?.stop();
    this.scheduler.stop();
  }

  private installSignals(): void {
    let interrupts = 0;
    const on = (sig: NodeJS.Signals, fn: () => void) => {
      process.on(sig, fn);
      this.signalHandlers.push([sig, fn]);
    };
    on('SIGTERM', () => (this.scheduler.accepting ? this.drain('SIGTERM') : this.stop('second SIGTERM')));
    on('SIGINT', () => (++interrupts === 1 ? this.drain('SIGINT; press Ctrl-C again to stop now') : this.stop('SIGINT')));
    on('SIGUSR1', () => void this.logStats());
  }

  /** Resolves with the exit code once drained or stopped and everything is closed. */
  async run(): Promise<number> {
    await this.scheduler.done;
    await this.shutdown();
    return 0;
  }

  private async shutdown(): Promise<void> {
    await this.watcher?.stop();
    this.stall?.stop();
    this.statsFile.stop();
    await this.notifier?.flush();
    this.notifier?.close();
    if (this.dedup) {
      try {
        const n = this.dedup.purge(this.cfg.deduplication_retention_days);
        if (n > 0) this.log.info('dedup_purged', `Removed ${n} dedup record(s) older than ${this.cfg.deduplication_retention_days} days`);
      } catch (err) {
        this.log.warn('dedup_purge_failed', `Dedup purge failed: ${(err as Error).message}`);
      }
      this.dedup.close();
    }
    await this.statsFile.write();
    await this.closeServers();
    this.systemd.close();
    loadAddon().setPlainFilesOnly(false);
    for (const [sig, fn] of this.signalHandlers) process.off(sig, fn);
    const s = await this.snapshot();
    this.log.info('daemon_stopped', `Daemon stopped: ${s.total_processed} processed, ${s.total_failed} failed, ${s.total_retried} retried`);
  }
}
