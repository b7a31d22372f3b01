// h2k daemon: the unattended watch-folder service (see src/daemon/). Config from --config YAML
// (hyper2kvm key names) with flags laid over it; SIGTERM drains, SIGUSR1 logs stats.
import type { Command } from 'commander';
import { asDiskDaemonConfig, loadWorkflowAwareConfig } from '../../workflow/workflow-config.js';
import { manifestWorkflowService } from '../../workflow/manifest-source.js';
import { watchFolderService } from '../../daemon/watch-source.js';
import { outputFormats } from '../../native/formats.js';
import { configSecrets, createLogger } from '../../service/logger.js';
import { reportError } from '../report-error.js';

interface DaemonFlags {
  config?: string;
  watchDir?: string;
  outputDir?: string;
  maxConcurrentJobs?: string;
  fileStableTimeout?: string;
  logFormat?: string;
  logFile?: string;
  metricsListen?: string;
  outFormat?: string;
  compression?: string;
  threads?: string;
  verify?: boolean;
  dedup?: boolean;
  dedupHash?: string;
  retryDelay?: string;
  maxRetries?: string;
  jobTimeout?: string;
  verbose?: string;
  manifestWorkflowMode?: boolean;
  manifestWorkflowDir?: string;
  queueUrl?: string;
  hostName?: string;
  leaseSeconds?: string;
}

const num = (v: string | undefined) => (v === undefined ? undefined : v.trim() === '' ? NaN : Number(v));

/** CLI flags as config keys (dots for nested ones); undefined means "not given". */
export function flagsToConfig(f: DaemonFlags): Record<string, unknown> {
  return {
    watch_dir: f.watchDir,
    output_dir: f.outputDir,
    max_concurrent_jobs: num(f.maxConcurrentJobs),
    file_stable_timeout: num(f.fileStableTimeout),
    log_format: f.logFormat,
    log_file: f.logFile,
    metrics_listen: f.metricsListen,
    out_format: f.outFormat,
    compression: f.compression,
    threads: num(f.threads),
    verify_output: f.verify ? true : undefined,
    enable_deduplication: f.dedup === false ? false : undefined,
    deduplication_use_md5: f.dedupHash ? true : undefined,
    deduplication_hash: f.dedupHash,
    'retry_policy.retry_delay': num(f.retryDelay),
    'retry_policy.max_retries': num(f.maxRetries),
    job_timeout: num(f.jobTimeout),
    verbose: num(f.verbose),
    manifest_workflow_mode: f.manifestWorkflowMode ? true : undefined,
    manifest_workflow_dir: f.manifestWorkflowDir,
    // the environment (systemd EnvironmentFile=) keeps the database password out of the config file
    queue_url: f.queueUrl ?? (process.env.H2K_QUEUE_URL || undefined),
    host_name: f.hostName ?? (process.env.H2K_HOST_NAME || undefined),
    lease_seconds: num(f.leaseSeconds),
  };
}

export function registerDaemon(program: Command): void {
  const daemon = program
    .command('daemon')
    .description('watch a folder and convert every VM disk dropped into it (runs until drained or stopped)')
    .option('--config <file>', 'daemon YAML/JSON config: hyper2kvm daemon keys load unchanged (those h2k does not act on are warned about); an unknown key is refused')
    .option('--watch-dir <dir>', 'folder to watch for disks (watch_dir)')
    .option('--output-dir <dir>', 'where converted disks go: <dir>/YYYY-MM-DD/<vm>/ (output_dir)')
    .option('--max-concurrent-jobs <n>', 'conversions at once (default 3)')
    .option('--file-stable-timeout <seconds>', 'size+mtime must hold still this long before a file is queued (default 30)')
    .option('-O, --out-format <format>', `${outputFormats().join(' | ')} (out_format)`)
    .option('--compression <algo>', 'qcow2 compression: none | zlib | zstd')
    .option('--threads <n>', 'compression threads per job')
    .option('--verify', 'read every output back and compare it with the source (verify_output: true)')
    .option('--no-dedup', 'do not skip files processed before (enable_deduplication: false)')
    .option('--dedup-hash <algo>', 'detect duplicates by content hash: md5 | xxh3 (default: filename + size)')
    .option('--retry-delay <seconds>', 'first retry delay after a transient error (retry_policy.retry_delay)')
    .option('--max-retries <n>', 'retries after transient errors (retry_policy.max_retries)')
    .option('--job-timeout <seconds>', 'cancel and retry a conversion running longer than this (0 = never)')
    .option('--metrics-listen <host:port>', 'serve Prometheus metrics, e.g. 127.0.0.1:9477')
    .option('--log-format <format>', 'human | json')
    .option('--log-file <file>', 'also append log lines to this file')
    .option('--verbose <level>', '0 errors/warnings, 1 info (default), 2 debug')
    .option('--queue-url <url>', 'postgres://user:password@host/db: share one job queue with every daemon pointed at it (queue_url; env H2K_QUEUE_URL)')
    .option('--host-name <name>', "this daemon's name in the cluster (host_name; env H2K_HOST_NAME; default the hostname)")
    .option('--lease-seconds <n>', 'with --queue-url: a silent host loses its jobs after this long (lease_seconds, default 15)')
    .option('--manifest-workflow-mode', 'process manifests dropped into <manifest-workflow-dir>/to_be_processed/ instead of watching for disks')
    .option('--manifest-workflow-dir <dir>', 'manifest workflow root: to_be_processed/, processing/, processed/, failed/')
    .action(async (flags: DaemonFlags) => {
      process.exitCode = await runDaemonCommand(flags);
    });
  daemon
    .command('install-unit')
    .description('install the systemd unit (Type=notify, hardened) and the sysusers.d entry for the h2k user; prints the commands to run next')
    .option('--template', 'install h2k@.service: one instance per /etc/h2k/NAME.yaml')
    .option('--prefix <dir>', 'install beneath this root instead of / (DIR/etc/systemd/system, DIR/etc/sysusers.d)')
    .option('-f, --force', 'replace an installed unit file')
    .action(async (flags: { template?: boolean; prefix?: string; force?: boolean }) => {
      try {
        const { installUnit } = await import('../../service/install-unit.js');
        const r = await installUnit(flags);
        for (const w of r.warnings) process.stderr.write(`h2k: warning: ${w}\n`);
        process.stdout.write(`Installed ${r.unit}\nInstalled ${r.sysusers}\nNext:\n${r.next.map((l) => `  ${l}\n`).join('')}`);
      } catch (err) {
        process.exitCode = reportError(err);
      }
    });
}

async function runDaemonCommand(flags: DaemonFlags): Promise<number> {
  const load = () => loadWorkflowAwareConfig(flags.config, flagsToConfig(flags));
  let loaded;
  try {
    loaded = load();
  } catch (err) {
    return reportError(err);
  }
  const cfg = loaded.config;
  let log;
  try {
    log = createLogger({ format: cfg.log_format, verbose: cfg.verbose, file: cfg.log_file, secrets: configSecrets(cfg) });
  } catch (err) {
    return reportError(err);
  }
  for (const w of loaded.warnings) log.warn('config_warning', `${loaded.file ?? 'config'}: ${w}`);
  const opts = {
    handleSignals: true,
    loadConfig: () => {
      const again = load();
      return { config: again.config, warnings: again.warnings.map((w) => `${again.file ?? 'config'}: ${w}`) };
    },
  };
  const daemon =
    cfg.manifest_workflow_mode && cfg.manifest_workflow_dir
      ? manifestWorkflowService({ ...cfg, manifest_workflow_dir: cfg.manifest_workflow_dir }, log, opts)
      : watchFolderService(asDiskDaemonConfig(cfg), log, opts);
  try {
    await daemon.start();
  } catch (err) {
    return reportError(err);
  }
  return daemon.run();
}
