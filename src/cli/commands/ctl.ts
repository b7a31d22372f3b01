// h2k ctl: talks to a running daemon over its control socket. Exit 69 when no daemon answers.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { readConfigFile } from '../../config/load-config.js';
import { sendControlCommand } from '../../service/control-client.js';
import { CONTROL_COMMANDS, isControlCommand, type ControlReply } from '../../service/control-protocol.js';
import { formatStats, type StatsSnapshot } from '../../service/stats.js';
import { H2kError } from '../../util/errors.js';
import { formatBytes, formatDuration } from '../../util/format.js';
import { EXIT } from '../exit-codes.js';
import { reportError } from '../report-error.js';

interface CtlFlags {
  outputDir?: string;
  socket?: string;
  config?: string;
  json?: boolean;
  timeout?: string;
  queueUrl?: string;
  host?: string;
}

export const DEFAULT_OUTPUT_DIR = '/var/lib/h2k/output';
/** hyper2kvm's default output_dir's control socket */
const HYPER2KVM_SOCKET = '/var/lib/hyper2kvm/output/.daemon/control.sock';

export function socketPathFor(flags: CtlFlags): string {
  if (flags.socket) return resolve(flags.socket);
  // a cluster's daemons each have {output_dir}/.daemon/<host_name>/control.sock
  const state = (dir: string) => join(resolve(dir), '.daemon', ...(flags.host ? [flags.host] : []), 'control.sock');
  if (flags.outputDir) return state(flags.outputDir);
  if (flags.config) {
    const { values } = readConfigFile(flags.config);
    if (typeof values.control_socket === 'string') return resolve(values.control_socket);
    if (typeof values.output_dir === 'string') return state(values.output_dir);
  }
  const fallback = join(process.env.H2K_OUTPUT_DIR ?? DEFAULT_OUTPUT_DIR, '.daemon', 'control.sock');
  // A drop-in for hyper2kvm may run on its default output_dir.
  if (!process.env.H2K_OUTPUT_DIR && !existsSync(fallback) && existsSync(HYPER2KVM_SOCKET)) return HYPER2KVM_SOCKET;
  return fallback;
}

type JobLine = { filename: string; percent?: number; bytes_done?: number; bytes_total?: number; rate_bytes_per_second?: number; eta_seconds?: number | null };

/** "vm.vmdk 45.0% (1.2 GiB of 2.6 GiB, 98.0 MiB/s, ETA 14s)", or just the name before the first progress. */
function jobLine(j: JobLine): string {
  if (j.percent === undefined) return basename(j.filename);
  const eta = j.eta_seconds === null || j.eta_seconds === undefined ? '' : `, ETA ${formatDuration(j.eta_seconds)}`;
  return `${basename(j.filename)} ${j.percent.toFixed(1)}% (${formatBytes(j.bytes_done ?? 0)} of ${formatBytes(j.bytes_total ?? 0)}, ${formatBytes(j.rate_bytes_per_second ?? 0)}/s${eta})`;
}

function humanReply(r: ControlReply): string {
  const lines: string[] = [];
  if (r.message) lines.push(String(r.message));
  if (r.stats) {
    lines.push('Daemon Statistics:');
    for (const l of formatStats(r.stats as StatsSnapshot)) lines.push(`  ${l}`);
  }
  if (typeof r.state === 'string') {
    lines.push(`Status: ${r.state.toUpperCase()}`);
    lines.push(`  PID: ${r.pid}  Version: ${r.version}`);
    lines.push(`  Queue Depth: ${r.queue_depth}  In Flight: ${r.in_flight}`);
    lines.push(`  Watching: ${r.watch_dir} -> ${r.output_dir}`);
    // Manifest workflow mode: where the manifests are and which VMs run now.
    const m = r.manifests as { queued: number; processing: string[]; processed: number; failed: number } | undefined;
    if (m) lines.push(`  Manifests: ${m.queued} queued, ${m.processing.length} processing, ${m.processed} processed, ${m.failed} failed`);
    for (const vm of (r.running_vms as { manifest: string; vm: string; stage: string }[] | undefined) ?? [])
      lines.push(`  Running: ${vm.manifest}: ${vm.vm} (${vm.stage})`);
    for (const j of (r.current_jobs as JobLine[] | undefined) ?? []) lines.push(`  Job: ${jobLine(j)}`);
  }
  return lines.join('\n');
}

export function registerCtl(program: Command): void {
  program
    .command('ctl')
    .description(`control a running daemon: ${CONTROL_COMMANDS.join(' | ')}`)
    .argument('<command>', CONTROL_COMMANDS.join(' | '))
    .option('--output-dir <dir>', `the daemon's output_dir; socket is <dir>/.daemon/control.sock (default ${DEFAULT_OUTPUT_DIR} or $H2K_OUTPUT_DIR)`)
    .option('--socket <path>', 'control socket path')
    .option('--config <file>', "read output_dir from the daemon's config file")
    .option('--queue-url <url>', 'the whole cluster through its database (env H2K_QUEUE_URL): status|stats, and pause|resume|drain of every host')
    .option('--host <name>', "one host of a cluster: its socket is <output_dir>/.daemon/<name>/control.sock; with --queue-url, only its figures, or only it paused/resumed/drained")
    .option('--json', 'print the raw JSON reply')
    .option('--timeout <seconds>', 'how long to wait for a reply', '5')
    .action(async (command: string, flags: CtlFlags) => {
      process.exitCode = await runCtl(command, flags);
    });
}

async function runCtl(command: string, flags: CtlFlags): Promise<number> {
  try {
    if (!isControlCommand(command))
      throw new H2kError(`unknown command '${command}'`, { code: 'E_USAGE', hint: `use one of: ${CONTROL_COMMANDS.join(', ')}` });
    const timeout = Number(flags.timeout ?? '5');
    if (!Number.isFinite(timeout) || timeout <= 0) throw new H2kError(`bad --timeout '${flags.timeout}'`, { code: 'E_USAGE' });
    const queueUrl = flags.queueUrl ?? (process.env.H2K_QUEUE_URL || undefined);
    if (queueUrl && !flags.socket && !flags.outputDir && (command === 'status' || command === 'stats')) {
      const { clusterStatus, humanCluster } = await import('./ctl-cluster.js');
      const s = await clusterStatus(queueUrl, flags.host);
      process.stdout.write((flags.json ? JSON.stringify({ status: 'ok', cluster: s }, null, 2) : humanCluster(s)) + '\n');
      return EXIT.OK;
    }
    if (queueUrl && !flags.socket && !flags.outputDir && (command === 'pause' || command === 'resume' || command === 'drain')) {
      const { clusterCommand } = await import('./ctl-cluster.js');
      const r = await clusterCommand(queueUrl, command, flags.host);
      process.stdout.write((flags.json ? JSON.stringify({ status: 'ok', ...r }, null, 2) : r.message) + '\n');
      return EXIT.OK;
    }
    const reply = await sendControlCommand(socketPathFor(flags), command, timeout * 1000);
    if (flags.json) process.stdout.write(JSON.stringify(reply, null, 2) + '\n');
    else if (reply.status === 'ok') process.stdout.write(humanReply(reply) + '\n');
    else process.stderr.write(`h2k: daemon answered with an error: ${reply.message ?? 'unknown error'}\n`);
    return reply.status === 'ok' ? EXIT.OK : EXIT.FAILURE;
  } catch (err) {
    return reportError(err, flags.json ?? false);
  }
}
