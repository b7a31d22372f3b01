// Starts the real `h2k daemon` in manifest workflow mode (config from YAML, JSON logs) and
// waits on its log events, the way an operator's tooling would.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { h2kBin, repoRoot } from './cli.js';
import { collectDaemonLog, waitFor, type LogEvent } from './daemon-harness.js';

export interface WorkflowDaemon {
  proc: ChildProcess;
  events: LogEvent[];
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForEvent(event: string, pred?: (e: LogEvent) => boolean, timeoutMs?: number): Promise<LogEvent>;
  /** SIGTERM (running manifests finish, queued ones stay) and wait for exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `extra`: more config keys (metrics_listen, stats_interval, ...). */
export async function startWorkflowDaemon(
  root: string,
  workflowDir: string,
  outputDir: string,
  jobs = 2,
  extra: Record<string, unknown> = {},
  env: NodeJS.ProcessEnv = {},
): Promise<WorkflowDaemon> {
  const configPath = join(root, 'daemon.yaml');
  writeFileSync(
    configPath,
    stringify({ manifest_workflow_mode: true, manifest_workflow_dir: workflowDir, output_dir: outputDir, max_concurrent_jobs: jobs, ...extra }),
  );
  const proc = spawn(process.execPath, [h2kBin, 'daemon', '--config', configPath, '--log-format', 'json'], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { events, stderr } = collectDaemonLog(proc);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const d: WorkflowDaemon = {
    proc,
    events,
    stderr,
    exited,
    waitForEvent: (event, pred = () => true, timeoutMs = 60_000) =>
      waitFor(() => `log event ${event}\n--- daemon log ---\n${stderr().slice(-3000)}`, () => events.find((e) => e.event === event && pred(e)), timeoutMs),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
  await d.waitForEvent('daemon_started', () => true, 30_000);
  return d;
}
