// The service shell both daemon modes run in: state directory, control socket and its commands,
// signals, stats.json, the Prometheus endpoint, the run state and sd_notify, around a JobSource
// (job-source.ts). A new daemon feature that both modes share goes here; one that is about where
// jobs come from goes in a source.
import type { Server } from 'node:http';
import { chmod, mkdir } from 'node:fs/promises';
import { ControlServer } from './control-server.js';
import type { ControlCommand, ControlReply } from './control-protocol.js';
import { configSecrets, type Logger } from './logger.js';
import { DaemonMetrics, startMetricsServer } from './metrics.js';
import { daemonPaths, h2kVersion, type DaemonPaths } from './paths.js';
import { logStats, StatsFile } from './stats-file.js';
import { DaemonStats, type StatsSnapshot } from './stats.js';
import { changedKeys, RELOADABLE_KEYS } from './reload.js';
import { systemdNotify, type SystemdNotify } from './systemd-notify.js';
import { toH2kError } from '../util/errors.js';
import type { JobSource, ServiceConfig } from './job-source.js';

export interface ServiceOptions {
  /** install SIGTERM/SIGINT/SIGUSR1/SIGHUP handlers (the CLI does; in-process tests don't) */
  handleSignals?: boolean;
  /** reads the config file again (SIGHUP, `reload`); throws when it is invalid */
  loadConfig?: () => { config: ServiceConfig; warnings: string[] };
}

export class Service {
  readonly paths: DaemonPaths;
  readonly stats = new DaemonStats();
  private readonly statsFile: StatsFile;
  private control?: ControlServer;
  private metrics?: DaemonMetrics;
  private metricsServer?: Server;
  private version = '0.0.0';
  private ending?: 'drain' | 'shutdown' | 'stop';
  private finish!: () => void;
  private readonly finished = new Promise<void>((r) => (this.finish = r));
  private readonly signalHandlers: [NodeJS.Signals, () => void][] = [];
  /** sd_notify: READY, STATUS, STOPPING, RELOADING, WATCHDOG (no-op outside systemd) */
  private readonly systemd: SystemdNotify;

  constructor(readonly source: JobSource, private cfg: ServiceConfig, private readonly log: Logger, private readonly opts: ServiceOptions = {}) {
    this.paths = daemonPaths(cfg);
    this.systemd = systemdNotify(log);
    // Each stats.json write also tells systemd the queue (sent only when the line changes).
    this.statsFile = new StatsFile(this.paths.statsFile, () => this.snapshot(), log, (s) => this.systemd.status(s));
  }

  /** Starts everything; on failure nothing stays open. */
  async start(): Promise<void> {
    await this.startParts().catch(async (err: unknown) => {
      await this.closeAll(false);
      throw err;
    });
    this.systemd.ready();
  }

  private async startParts(): Promise<void> {
    await this.source.prepare();
    this.version = await h2kVersion();
    await mkdir(this.paths.stateDir, { recursive: true, mode: 0o700 });
    await chmod(this.paths.stateDir, 0o700);
    // The control socket first: it refuses to start when another daemon owns this output_dir,
    // before a source's recovery could touch that daemon's files.
    this.control = new ControlServer(this.paths.socket, (c) => this.onControl(c));
    await this.control.start();
    const legacy = this.source.legacyStatsFile;
    for (const file of [this.paths.statsFile, ...(legacy ? [legacy] : [])])
      if (await this.stats.load(file)) {
        const before = this.stats.snapshot({ state: 'running', queueDepth: 0, retryWaiting: 0, inFlight: 0 }).total_processed;
        this.log.info('stats_loaded', `Loaded stats from ${file}: ${before} processed before`);
        break;
      }
    if (this.cfg.metrics_listen) {
      this.metrics = new DaemonMetrics({ fileTypes: this.source.fileTypes, version: this.version, hostName: this.source.hostName });
      const { server, address } = await startMetricsServer(this.cfg.metrics_listen, this.metrics, () => this.snapshot());
      this.metricsServer = server;
      this.log.info('metrics_listening', `Metrics: http://${address}/metrics`, { address });
    }
    if (this.opts.handleSignals) this.installSignals();
    await this.source.start({
      stats: this.stats, metrics: this.metrics, version: this.version, paths: this.paths, changed: () => this.statsFile.schedule(), progressed: () => this.statsFile.schedule(1000),
      command: (c, why) => (c === 'drain' ? this.drain(why) : this.pauseOrResume(c, why)),
    });
    this.statsFile.startInterval(this.cfg.stats_interval ?? 60);
    await this.statsFile.write();
    const { name, route } = this.source.words;
    this.log.info('daemon_started', `${name} started: ${route()} (${this.cfg.max_concurrent_jobs} concurrent jobs, control socket ${this.paths.socket})`, {
      pid: process.pid, version: this.version, ...(this.source.mode ? { mode: this.source.mode } : {}),
    });
  }

  async snapshot(): Promise<StatsSnapshot> {
    const q = await this.source.queued();
    const s = this.stats.snapshot({ state: this.source.runState, queueDepth: q.waiting, retryWaiting: q.retryWaiting, inFlight: this.source.inFlight });
    const host = this.source.hostName;
    return host ? { ...s, host_name: host, cluster_queue: { waiting: q.waiting, running: q.running ?? 0 } } : s;
  }

  private async onControl(command: ControlCommand): Promise<ControlReply> {
    const state = this.source.runState;
    switch (command) {
      case 'status': {
        const s = await this.snapshot();
        return {
          status: 'ok', ...(this.source.mode ? { mode: this.source.mode } : {}), state, paused: state === 'paused', draining: state === 'draining',
          pid: process.pid, version: this.version, uptime_seconds: s.uptime_seconds, queue_depth: s.current_queue_depth, in_flight: s.in_flight,
          current_jobs: s.current_jobs.map(({ filename, progress }) => ({ filename, ...progress })),
          ...this.source.status(s),
        };
      }
      case 'stats':
        return { status: 'ok', stats: await this.snapshot() };
      case 'pause':
      case 'resume':
        return { status: 'ok', message: this.pauseOrResume(command, 'control socket') };
      case 'drain':
      case 'stop':
        this[command]('control socket');
        return { status: 'ok', message: this.source.words[command][1] };
      case 'reload':
        return this.reload('control socket');
    }
  }

  /** Reads the config again and applies what can change live; an invalid one is refused. */
  reload(why: string): ControlReply {
    if (!this.opts.loadConfig) return { status: 'error', message: 'this daemon has no config to reload' };
    this.systemd.reloading();
    try {
      const { config: next, warnings } = this.opts.loadConfig();
      const { live, restart } = changedKeys({ ...this.cfg }, { ...next });
      for (const w of warnings) this.log.warn('config_warning', w);
      this.log.reconfigure?.({ verbose: next.verbose, secrets: configSecrets(next) });
      this.source.reconfigure(next);
      // Keys that need a restart keep their running values until then.
      this.cfg = { ...this.cfg, ...Object.fromEntries(RELOADABLE_KEYS.map((k) => [k, (next as unknown as Record<string, unknown>)[k]])) };
      if (restart.length > 0)
        this.log.warn('config_restart_needed', `Config reload (${why}): ${restart.join(', ')} changed; restart needed for ${restart.length > 1 ? 'those' : 'that'} to apply`, { keys: restart });
      const message = `Config reloaded (${why}): ${live.length > 0 ? `applied ${live.join(', ')}` : 'no live setting changed'}`;
      this.log.info('config_reloaded', message, { applied: live, restart_needed: restart });
      return { status: 'ok', message, applied: live, restart_needed: restart };
    } catch (err) {
      const e = toH2kError(err);
      const message = `${e.message}${e.hint ? ` (${e.hint})` : ''}`;
      this.log.error('config_reload_refused', `Config reload refused (${why}): ${message}; the running config stays`, { code: e.code });
      return { status: 'error', message: `config refused, the running config stays: ${message}` };
    } finally {
      this.systemd.ready();
    }
  }

  private pauseOrResume(command: 'pause' | 'resume', why: string): string {
    const [from, to, note] = command === 'pause' ? (['running', 'paused', ' (running jobs finish; no new ones start)'] as const) : (['paused', 'resumed', ''] as const);
    if (this.source.runState === from) this.log.info(`daemon_${to}`, `Daemon ${to}${note}`, { by: why });
    this.source[command]();
    this.statsFile.schedule();
    return `Daemon ${to}`;
  }

  /** Take nothing new, finish everything queued, exit. */
  drain(why: string): void {
    if (!this.ending) this.end('drain', why, 'daemon_draining', `Draining (${why}): ${this.source.words.drain[0]}`, () => this.source.drain());
  }

  /** Cancel running jobs now (requeued), exit. */
  stop(why: string): void {
    if (this.ending !== 'stop') this.end('stop', why, 'daemon_stopping', `Stopping (${why}): ${this.source.words.stop[0]}`, () => this.source.stop());
  }

  /** SIGTERM, a service manager's stop: queued jobs are not held up; running ones get the grace time. */
  shutdown(why: string): void {
    if (this.ending) return;
    const grace = this.cfg.shutdown_grace_seconds ?? 120;
    const msg = `Stopping (${why}): nothing new starts (queued jobs wait for the next start); running jobs get ${grace}s to finish, then are cancelled and requeued`;
    this.end('shutdown', why, 'daemon_stopping', msg, () => this.source.shutdown(grace * 1000), { grace_seconds: grace });
  }

  private end(kind: 'drain' | 'shutdown' | 'stop', why: string, event: string, msg: string, act: () => Promise<void>, fields?: Record<string, unknown>): void {
    this.ending = kind;
    this.log.info(event, msg, fields);
    this.systemd.stopping(why);
    void act().then(this.finish);
    this.statsFile.schedule();
  }

  private installSignals(): void {
    let interrupts = 0;
    this.signalHandlers.push(
      ['SIGTERM', () => (this.ending ? this.stop('second SIGTERM') : this.shutdown('SIGTERM'))],
      ['SIGINT', () => (++interrupts === 1 ? this.drain('SIGINT; press Ctrl-C again to stop now') : this.stop('SIGINT'))],
      ['SIGUSR1', () => void this.snapshot().then((s) => logStats(this.log, s))],
      ['SIGHUP', () => void this.reload('SIGHUP')],
    );
    for (const [sig, fn] of this.signalHandlers) process.on(sig, fn);
  }

  /** The source first, then the shell's own parts. After a run the final stats.json is written;
   * after a failed start the source's close may fail too, and the rest is closed all the same. */
  private async closeAll(ran: boolean): Promise<void> {
    if (ran) await this.source.close();
    else await this.source.close().catch(() => undefined);
    this.statsFile.stop();
    if (ran) await this.statsFile.write();
    const m = this.metricsServer;
    if (m) {
      m.closeAllConnections();
      await new Promise<void>((r) => m.close(() => r()));
    }
    await this.control?.close();
    for (const [sig, fn] of this.signalHandlers.splice(0)) process.off(sig, fn);
    this.systemd.close();
  }

  /** Resolves with the exit code (0) once drained or stopped and everything is closed. */
  async run(): Promise<number> {
    await this.finished;
    await this.closeAll(true);
    const s = await this.snapshot();
    this.log.info('daemon_stopped', `${this.source.words.name} stopped: ${s.total_processed} processed, ${s.total_failed} failed, ${s.total_retried} retried`);
    return 0;
  }
}
