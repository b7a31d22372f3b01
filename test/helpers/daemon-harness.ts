// Starts the real daemon (`node bin/h2k.js daemon --log-format json`) as a child process on a
// temp directory and talks to it the way operators do: files in, control socket, stats.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll } from 'vitest';
import { h2kBin, repoRoot, runH2k, type RunResult } from './cli.js';
import { tempDir } from './fixtures.js';

export interface LogEvent {
  time: string;
  level: string;
  event: string;
  msg: string;
  [key: string]: unknown;
}

export interface DaemonLog {
  events: LogEvent[];
  stderr(): string;
}

/** Parses the daemon's JSON log lines from stderr as they arrive; other lines (error reports)
 *  stay only in stderr(). */
export function collectDaemonLog(proc: ChildProcess): DaemonLog {
  const events: LogEvent[] = [];
  let stderr = '';
  let partial = '';
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    partial += chunk;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      try {
        events.push(JSON.parse(line) as LogEvent);
      } catch {
        // not a log line
      }
    }
  });
  proc.stdout!.resume();
  return { events, stderr: () => stderr };
}

/** Polls until fn returns a truthy value; throws with `what` after timeoutMs. */
export async function waitFor<T>(what: string | (() => string), fn: () => T | Promise<T>, timeoutMs = 60_000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface DaemonHarness {
  root: string;
  watchDir: string;
  outputDir: string;
  socket: string;
  configPath: string;
  proc: ChildProcess;
  events: LogEvent[];
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForEvent(event: string, pred?: (e: LogEvent) => boolean, timeoutMs?: number): Promise<LogEvent>;
  count(event: string): number;
  /** waitFor with the daemon's log tail in the timeout message */
  until<T>(what: string, fn: () => T | Promise<T>, timeoutMs?: number): Promise<NonNullable<T>>;
  ctl(args: string[]): Promise<RunResult>;
  statsFile(): Record<string, unknown> & { total_processed: number; total_failed: number; current_queue_depth: number };
  /** drains via the socket and waits for exit (used in afterEach; never throws) */
  shutdown(): Promise<void>;
  cleanup(): void;
}

export interface HarnessOptions {
  /** extra config keys; watch_dir/output_dir are filled in */
  config?: Record<string, unknown>;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** reuse directories of an earlier harness (restart after kill -9) */
  reuse?: { root: string };
  /** a command the daemon runs under, e.g. ['strace', '-f', '-o', log]; proc is then the wrapper */
  wrap?: string[];
}

export async function startDaemon(options: HarnessOptions = {}): Promise<DaemonHarness> {
  const root = options.reuse?.root ?? tempDir('daemon').dir;
  const watchDir = join(root, 'watch');
  const outputDir = join(root, 'out');
  mkdirSync(watchDir, { recursive: true });
  const configPath = join(root, 'daemon.yaml');
  const config = {
    watch_dir: watchDir,
    output_dir: outputDir,
    file_stable_timeout: 0.5,
    max_concurrent_jobs: 2,
    stats_interval: 1,
    enable_deduplication: false,
    retry_policy: { enabled: true, max_retries: 2, retry_delay: 0.3, backoff_multiplier: 2 },
    ...options.config,
  };
  writeFileSync(configPath, stringify(config));
  const argv = [process.execPath, h2kBin, 'daemon', '--config', configPath, '--log-format', 'json', ...(options.args ?? [])];
  const [cmd, ...args] = [...(options.wrap ?? []), ...argv];
  const proc = spawn(cmd, args, {
    cwd: repoRoot,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { events, stderr: log } = collectDaemonLog(proc);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    proc.on('exit', (code, signal) => res({ code, signal })),
  );
  let exitedFlag = false;
  void exited.then(() => (exitedFlag = true));
  const socket = join(outputDir, '.daemon', 'control.sock');
  const h: DaemonHarness = {
    root,
    watchDir,
    outputDir,
    socket,
    configPath,
    proc,
    events,
    stderr: log,
    exited,
    async waitForEvent(event, pred = () => true, timeoutMs = 60_000) {
      return waitFor(() => `log event ${event}\n--- daemon log ---\n${log().slice(-6000)}`, () => {
        if (exitedFlag && !events.some((e) => e.event === event && pred(e))) throw new Error(`daemon exited; log:\n${log().slice(-4000)}`);
        return events.find((e) => e.event === event && pred(e));
      }, timeoutMs);
    },
    until: (what, fn, timeoutMs = 60_000) => waitFor(() => `${what}\n--- daemon log ---\n${log().slice(-6000)}`, fn, timeoutMs),
    count: (event) => events.filter((e) => e.event === event).length,
    ctl: (args) => runH2k(['ctl', '--output-dir', outputDir, ...args], { timeout: 30_000 }),
    statsFile: () => JSON.parse(readFileSync(join(outputDir, '.daemon', 'stats.json'), 'utf8')),
    async shutdown() {
      if (exitedFlag) return;
      if (existsSync(socket)) await runH2k(['ctl', '--socket', socket, 'stop'], { timeout: 10_000 }).catch(() => undefined);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
  await h.waitForEvent('daemon_started', undefined, 60_000);
  return h;
}

/**
 * A test file's fixture directory and the daemons it starts: `start` tracks each daemon, and after
 * the file every daemon is drained and its directories removed, then the fixtures.
 */
export function daemonTestScope(prefix: string): { fx: { dir: string; cleanup: () => void }; start: (options?: HarnessOptions) => Promise<DaemonHarness> } {
  const fx = tempDir(prefix);
  const harnesses: DaemonHarness[] = [];
  afterAll(async () => {
    for (const h of harnesses) {
      await h.shutdown();
      h.cleanup();
    }
    fx.cleanup();
  });
  return {
    fx,
    start: async (options = {}) => {
      const h = await startDaemon(options);
      harnesses.push(h);
      return h;
    },
  };
}
