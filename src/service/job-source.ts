// The contract between the service shell (service.ts) and a job source: what the shell hands a
// source, what it asks of it. Two sources implement it: src/daemon/watch-source.ts (the watch
// folder) and src/workflow/manifest-source.ts (the manifest directory).
import type { DaemonMetrics } from './metrics.js';
import type { DaemonPaths } from './paths.js';
import type { DaemonStats, StatsSnapshot } from './stats.js';

export type RunState = 'running' | 'paused' | 'draining' | 'stopping' | 'stopped';

/** What the shell hands a source when it starts it. */
export interface ServiceContext {
  stats: DaemonStats;
  metrics?: DaemonMetrics;
  version: string;
  paths: DaemonPaths;
  /** something changed: refresh stats.json soon */
  changed(): void;
  /** a job's progress moved: refresh stats.json within a second */
  progressed(): void;
  /** pause, resume or drain the daemon as the control socket's command does (a cluster's
   * database asked for it: `h2k ctl --queue-url URL pause|resume|drain`) */
  command?(command: 'pause' | 'resume' | 'drain', why: string): void;
}

/** Where jobs come from and how they run; the shell drives it. */
export interface JobSource {
  /** `mode` in the status reply (absent for the watch folder, as hyper2kvm) */
  readonly mode?: string;
  /** file types the metrics label jobs with */
  readonly fileTypes: string[];
  readonly runState: RunState;
  readonly inFlight: number;
  /** the queue's figures; in a cluster the whole cluster's (running: jobs running on every host) */
  queued(): Promise<{ waiting: number; retryWaiting: number; running?: number }>;
  /** in a cluster: this host's name (stats.json's host_name, the metrics' host label) */
  readonly hostName?: string;
  /** Checks and creates its directories, before anything else opens. */
  prepare(): Promise<void>;
  /** Starts taking jobs (the control socket is up, stats are loaded). */
  start(ctx: ServiceContext): Promise<void>;
  pause(): void;
  resume(): void;
  // Each of these resolves once the source has come to rest.
  /** Takes nothing new and finishes what it has. */
  drain(): Promise<void>;
  /** Cancels running jobs; their inputs stay to be done on the next start. */
  stop(): Promise<void>;
  /** Starts nothing more; running jobs get graceMs to finish, then are cancelled as by stop(). */
  shutdown(graceMs: number): Promise<void>;
  /** Releases everything; also after a failed start. */
  close(): Promise<void>;
  /** Applies the live keys of a reloaded config (RELOADABLE_KEYS) to what runs now. */
  reconfigure(cfg: ServiceConfig): void;
  /** Fields of the status reply beyond the shell's (watch_dir, output_dir, ...). */
  status(s: StatsSnapshot): Record<string, unknown>;
  /** stats.json of an older layout to carry over when the shell's has none */
  readonly legacyStatsFile?: string;
  /** log wording: what the source is and what drain/stop do to it */
  readonly words: { name: string; route: () => string; drain: [log: string, reply: string]; stop: [log: string, reply: string] };
}

/** The running config: the shell reads these keys; the rest belongs to the source. */
export interface ServiceConfig {
  output_dir: string;
  control_socket?: string;
  queue_url?: string;
  host_name?: string;
  metrics_listen?: string;
  stats_interval?: number;
  verbose?: number;
  shutdown_grace_seconds?: number;
  max_concurrent_jobs: number;
  notifications?: { email_password?: string; webhook_url?: string };
}
