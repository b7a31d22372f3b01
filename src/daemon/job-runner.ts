// Runs one job end to end: dedup check, conversion in a pool worker, report.json, and moving the
// sources to .processed/ (or, for good failures, to .errors/ with an .error.json). Transient
// errors come back as a retry decision for the scheduler; sources stay put until then.
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { lstat, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import type { ConvertOptions, ConvertProgress, ConvertRequest, ConvertResult } from '../convert/types.js';
import type { DaemonConfig } from '../config/daemon-schema.js';
import { H2kError, toH2kError } from '../util/errors.js';
import { formatBytes } from '../util/format.js';
import { writeJsonAtomic } from '../util/atomic-write.js';
import type { Deduplicator } from './dedup.js';
import { checkJobFiles } from './drop-guard.js';
import { domainVm } from './domain-vm.js';
import { writeDomainXml } from '../ovf/libvirt-xml.js';
import { buildErrorContext, type Phase } from './error-context.js';
import { moveInto, processedDir } from './file-moves.js';
import { fixBootDisk } from './guest-stage.js';
import { fileTypeOf, sourceFormatFor } from './image-files.js';
import type { Logger } from '../service/logger.js';
import type { Notifier } from './notify/notifier.js';
import type { Job, JobSpec } from './queue/job-queue.js';
import { retryDelayMs, shouldRetry } from './retry-policy.js';
import type { ServiceContext } from '../service/job-source.js';
import { planVmDisks } from './vm-disks.js';
import { convertDisks, type ConvertFn } from '../workflow/stages/convert.js';
import { localDate } from '../util/local-date.js';
import { claimOutputDir, dropStaging, isPublished, jobKey, makeStaging, publishStaged, releaseOutputDir } from './output-publish.js';

export type { ConvertFn };

/** From the service shell: stats (progress refreshes stats.json), the version reports carry, and
 * the Prometheus histogram each successful conversion's duration goes to. */
export interface JobRunnerDeps extends Pick<ServiceContext, 'stats' | 'version' | 'progressed' | 'metrics'> {
  cfg: DaemonConfig;
  log: Logger;
  notifier: Notifier;
  dedup?: Deduplicator;
  convert: ConvertFn;
  /** in a cluster (output_dir shared by several hosts): outputs are claimed and published
   * collision-safe (output-publish.ts), behind the job's lease */
  cluster?: OutputFence;
}

export interface OutputFence {
  hostName: string;
  /** renews the job's lease just before its outputs are published; throws E_QUEUE_LEASE_LOST
   * when another host has taken the job over */
  fence(id: string): Promise<void>;
  /** how long an attempt that published halfway is waited for (ms) */
  publishWaitMs: number;
}

export type JobOutcome =
  | { kind: 'success'; outputPath: string; seconds: number }
  | { kind: 'duplicate' }
  | { kind: 'retry'; at: number; error: H2kError }
  | { kind: 'failed'; error: H2kError }
  | { kind: 'cancelled' };

class PhaseError extends Error {
  constructor(readonly phase: Phase, readonly error: H2kError) {
    super(error.message);
  }
}

async function inPhase<T>(phase: Phase, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof PhaseError) throw err;
    throw new PhaseError(phase, toH2kError(err));
  }
}

/** Longest vm name in UTF-8 bytes: room for "-<hash>", "-N" and ".qcow2" in a 255-byte name. */
const MAX_VM_NAME_BYTES = 200;

/**
 * vm name from the primary file. Letters and digits of any script, '.', '_' and '-' are kept;
 * runs of anything else become '_' ("Web Server-01.vmdk" -> "Web_Server-01", ASCII names exactly
 * as before). A non-ASCII name that loses characters that way gets an 8-hex hash of the original
 * name, so names that clean up alike ("日本 1", "日本?1") stay apart and always map the same way.
 */
export function vmNameOf(primary: string): string {
  const stem = basename(primary, extname(primary));
  let clean = stem.replace(/[^\p{L}\p{M}\p{N}._-]+/gu, '_').replace(/^\.+/, '');
  let lossy = clean !== stem;
  if (!/[^\x00-\x7f]/.test(stem)) return clean.slice(0, 128) || 'disk';
  if (Buffer.byteLength(clean) > MAX_VM_NAME_BYTES) {
    const chars = [...clean];
    while (Buffer.byteLength(chars.join('')) > MAX_VM_NAME_BYTES) chars.pop();
    clean = chars.join('');
    lossy = true;
  }
  if (!lossy) return clean;
  return `${/[\p{L}\p{N}]/u.test(clean) ? clean : 'disk'}-${createHash('sha256').update(stem).digest('hex').slice(0, 8)}`;
}

/**
 * {output_dir}/YYYY-MM-DD/<vm>[-N]/ : a directory that holds a finished report, or that a running
 * job of this daemon has taken, belongs to another job (two names that clean up alike, or
 * "disk.img" and "disk.vmdk", never share one). `taken` is checked and updated with no await in
 * between, so concurrent jobs cannot both pick the same directory.
 */
async function chooseOutputDir(outputDir: string, vm: string, taken: Set<string>): Promise<string> {
  const day = join(outputDir, localDate());
  for (let i = 1; i < 1000; i++) {
    const dir = join(day, i === 1 ? vm : `${vm}-${i}`);
    const entries = await readdir(dir).catch(() => undefined);
    if ((!entries || !entries.includes('report.json')) && !taken.has(dir)) {
      taken.add(dir);
      return dir;
    }
  }
  throw new H2kError(`too many outputs named ${vm} today`, { code: 'E_OUTPUT_EXISTS', file: day });
}

export class JobRunner {
  private readonly threads: number;
  /** output directories of running jobs */
  private readonly takenDirs = new Set<string>();

  constructor(private readonly deps: JobRunnerDeps) {
    const cfg = deps.cfg;
    this.threads = cfg.threads ?? Math.max(1, Math.floor(availableParallelism() / cfg.max_concurrent_jobs));
  }

  private get compression(): 'none' | 'zlib' | 'zstd' {
    const cfg = this.deps.cfg;
    if (cfg.out_format !== 'qcow2') return 'none';
    return cfg.compression ?? (cfg.compress ? 'zlib' : 'none');
  }

  async run(job: Job, signal: AbortSignal): Promise<JobOutcome> {
    const { log, stats } = this.deps;
    const name = basename(job.primary);
    const started = Date.now();
    stats.jobStarted(job.id, name, job.fileType, job.retryCount, job.sizeBytes);
    log.info('job_started', `Processing: ${name} (${formatBytes(job.sizeBytes)}${job.files.length > 1 ? `, ${job.files.length} files` : ''}${job.retryCount ? `, retry ${job.retryCount}` : ''})`, {
      file: job.primary,
      files: job.files,
      retry_count: job.retryCount,
    });
    const held: string[] = [];
    try {
      const outcome = await this.attempt(job, signal, started, held);
      return outcome;
    } catch (err) {
      let pe = err instanceof PhaseError ? err : new PhaseError('completion', toH2kError(err));
      const cluster = this.deps.cluster;
      if (cluster && !signal.aborted) {
        // In a cluster an error is this attempt's only while it still holds the job, and only
        // when no other attempt of the job has published it.
        const lost = await cluster.fence(job.id).then(() => undefined, (e: unknown) => (toH2kError(e).code === 'E_QUEUE_LEASE_LOST' ? toH2kError(e) : undefined));
        if (lost) pe = new PhaseError(pe.phase, lost);
        else if (held[0] && (await isPublished(held[0]))) return await this.publishedElsewhere(job, held[0]);
      }
      const outcome = await this.onError(job, pe, signal);
      if (outcome.kind === 'failed' && this.deps.cluster) await Promise.all(held.map((d) => releaseOutputDir(d)));
      return outcome;
    } finally {
      for (const d of held) this.takenDirs.delete(d);
      stats.jobEnded(job.id);
    }
  }

  /** `held` receives the output directory this attempt takes (released by run). */
  private async attempt(job: Job, signal: AbortSignal, started: number, held: string[]): Promise<JobOutcome> {
    const { cfg, log, stats, dedup } = this.deps;
    const name = basename(job.primary);

    // lstat rules (drop-guard.ts) before anything opens a file: dedup hashing, conversion.
    const sizeBytes = await inPhase('initialization', () => checkJobFiles(job.files));

    await inPhase('file_type_detection', async () => {
      const ext = extname(job.primary).toLowerCase();
      if (!cfg.file_extensions.map((e) => e.toLowerCase()).includes(ext))
        throw new H2kError(`unsupported file type '${ext}'`, { code: 'E_UNSUPPORTED', file: job.primary });
    });

    let hashes: Record<string, string> = {};
    if (dedup) {
      const check = await inPhase('initialization', () => dedup.check(job.files, sizeBytes, signal));
      hashes = check.hashes as Record<string, string>;
      if (check.duplicateOf) {
        log.info('duplicate_skipped', `Skipping duplicate: ${name} (originally processed: ${check.duplicateOf.processed_at ?? 'unknown'})`, {
          file: job.primary,
          original_output: check.duplicateOf.output_path ?? undefined,
        });
        stats.duplicateSkipped();
        if (cfg.archive_processed) await inPhase('completion', () => moveInto(processedDir(cfg.watch_dir), job.files));
        return { kind: 'duplicate' };
      }
    }

    // Hashing may have taken minutes: the files must still be the ones checked.
    await inPhase('initialization', () => checkJobFiles(job.files));

    const vm = vmNameOf(job.primary);
    const cluster = this.deps.cluster;
    const claimed = await inPhase('output_directory_creation', async () => {
      if (cluster) {
        const c = await claimOutputDir(join(cfg.output_dir, localDate()), vm, jobKey(job), this.takenDirs);
        held.push(c.dir);
        return c;
      }
      const dir = await chooseOutputDir(cfg.output_dir, vm, this.takenDirs);
      held.push(dir);
      await mkdir(dir, { recursive: true });
      return { dir, published: false };
    });
    const outDir = claimed.dir;
    if (claimed.published) return this.publishedElsewhere(job, outDir);
    // In a cluster the job writes into a staging directory and publishes when done (output-publish.ts).
    const staging = cluster ? await inPhase('output_directory_creation', () => makeStaging(outDir, cluster.hostName)) : undefined;
    const workDir = staging ?? outDir;
    const finalPath = (p: string) => (staging ? join(outDir, basename(p)) : p);
    try {
      return await this.convertAndFinish(job, signal, started, vm, outDir, workDir, finalPath, sizeBytes, hashes);
    } finally {
      if (staging) await dropStaging(staging);
    }
  }

  /** Another attempt of this job (a host whose lease ran out) published it: nothing is written twice. */
  private async publishedElsewhere(job: Job, outDir: string): Promise<JobOutcome> {
    const { cfg, log, stats } = this.deps;
    log.info('job_already_published', `Skipped ${basename(job.primary)}: another attempt of this job already published ${outDir}`, { file: job.primary, output_dir: outDir });
    stats.duplicateSkipped();
    if (cfg.archive_processed) {
      const present: string[] = [];
      for (const f of job.files) if (await lstat(f).then(() => true, () => false)) present.push(f);
      await inPhase('completion', () => moveInto(processedDir(cfg.watch_dir), present));
    }
    return { kind: 'duplicate' };
  }

  private async convertAndFinish(
    job: Job, signal: AbortSignal, started: number, vm: string, outDir: string, workDir: string, finalPath: (p: string) => string,
    sizeBytes: number, hashes: Record<string, string>,
  ): Promise<JobOutcome> {
    const { cfg, log, stats, dedup } = this.deps;
    const name = basename(job.primary);
    // The OVF is loaded (and a loose one's .mf checked) once, here; the domain XML reuses its VM.
    const planned = await inPhase('argument_preparation', () => planVmDisks(job.primary, sourceFormatFor(job.primary), workDir, vm, cfg.out_format));
    // Every disk of the VM, one after another (the pipeline's loop); a VM missing a disk is a
    // failure, not a success. Progress counts every disk's bytes so far (stats.json, `h2k ctl status`).
    const written: string[] = [];
    const onProgress = (p: ConvertProgress) => {
      if (p.phase === 'verify') return;
      stats.jobProgress(job.id, p.bytesDone, p.bytesTotal);
      this.deps.progressed();
    };
    const base = { outputFormat: cfg.out_format, compression: this.compression, threads: this.threads, verify: cfg.verify_output, force: true };
    // force: a redo after a crash may find its own earlier output; the dir choice above protects others'.
    // Then guest fixes (boot disk) and the domain XML, when the config asks for them. A failure
    // removes every file of the job: a half-fixed VM is never archived as a success.
    const xmlPath = join(workDir, `${vm}.xml`);
    const { results, guestFix, domainXml } = await (async () => {
      const results = await inPhase('conversion', () =>
        convertDisks(planned.disks, planned.outputs, base, { signal, onProgress }, async (o) => void written.push(o), (r, o) => this.convertWithTimeout(r, o)),
      );
      const guestFix = await inPhase('guest_fix', () => fixBootDisk(cfg, results[0].output, signal, log));
      const domainXml = await inPhase('domain_xml', async () => {
        const domain = domainVm(cfg, vm, planned.ovfVm, guestFix?.os?.firmware);
        written.push(xmlPath);
        // a redo after a crash may find its own earlier XML; the output dir choice protects others'
        return domain && { ...(await writeDomainXml(resolve(xmlPath), domain.vm, results.map((r) => ({ path: resolve(finalPath(r.output)), format: cfg.out_format })), { overwrite: true })), warnings: domain.warnings };
      });
      return { results, guestFix, domainXml };
    })().catch(async (err: unknown) => {
      await Promise.all(written.map((o) => rm(o, { force: true })));
      throw err;
    });
    const cluster = this.deps.cluster;
    if (cluster) {
      // The fence: this host still holds the job (its lease renewed for the publish), else it stops here.
      await inPhase('completion', () => cluster.fence(job.id));
      const staged = [...results.map((r) => r.output), ...(domainXml ? [xmlPath] : [])];
      const published = await inPhase('completion', () => publishStaged(workDir, outDir, staged, cluster.publishWaitMs));
      if (!published) return this.publishedElsewhere(job, outDir);
      for (const r of results) r.output = finalPath(r.output);
      if (domainXml) domainXml.path = finalPath(domainXml.path);
    }
    const result = results[0];
    for (const w of domainXml?.warnings ?? []) log.warn('domain_xml_warning', `${name}: ${w}`, { file: job.primary });
    // fixes change the outputs: sizes reported are the final files'
    const sizes = guestFix
      ? await inPhase('completion', () => Promise.all(results.map(async (r) => (await stat(r.output)).size)))
      : results.map((r) => r.outputBytes);
    const outputBytes = sizes.reduce((a, n) => a + n, 0);
    const seconds = (Date.now() - started) / 1000;

    await inPhase('completion', async () => {
      await writeJsonAtomic(join(outDir, 'report.json'), {
        tool: 'h2k daemon',
        h2k_version: this.deps.version,
        vm,
        source: {
          filename: basename(job.primary),
          files: job.files.map((f) => basename(f)),
          file_type: job.fileType,
          size_bytes: sizeBytes,
          hashes,
        },
        output: { path: result.output, format: result.outputFormat, compression: result.compression, bytes: outputBytes },
        ...(results.length > 1 ? { disks: results.map((r, i) => ({ disk: i + 1, source: r.source, path: r.output, bytes: sizes[i] })) } : {}),
        conversion: results.length > 1 ? results : result,
        ...(guestFix ? { guest_fix: guestFix } : {}),
        ...(domainXml ? { libvirt_xml: domainXml } : {}),
        queued_at: job.queuedAt,
        started_at: new Date(started).toISOString(),
        finished_at: new Date().toISOString(),
        duration_seconds: Math.round(seconds * 1000) / 1000,
        retry_count: job.retryCount,
      });
      await dedup?.record({
        filename: name,
        filepath: job.primary,
        file_size: sizeBytes,
        md5: hashes.md5,
        xxh3: hashes.xxh3,
        status: 'success',
        output_path: result.output,
        duration_seconds: seconds,
        processed_at: new Date().toISOString(),
      });
      if (cfg.archive_processed) await moveInto(processedDir(cfg.watch_dir), job.files);
    });

    stats.succeeded(job.fileType, seconds, outputBytes, job.id);
    this.deps.metrics?.observeJob(job.fileType, seconds, outputBytes);
    const what = results.length > 1 ? `${results.length} disks in ${outDir}` : result.output;
    log.info('job_succeeded', `Converted: ${name} -> ${what} (${formatBytes(outputBytes)} in ${seconds.toFixed(2)}s)`, {
      file: job.primary,
      output: result.output,
      ...(results.length > 1 ? { outputs: results.map((r) => r.output) } : {}),
      ...(guestFix ? { guest_changes: guestFix.changes.length, guest_warnings: guestFix.warnings } : {}),
      ...(domainXml ? { libvirt_xml: domainXml.path } : {}),
      seconds,
      bytes_written: outputBytes,
    });
    this.deps.notifier.notify({
      event: 'conversion_success',
      filename: name,
      duration_seconds: Math.round(seconds * 100) / 100,
      output_path: outDir,
      timestamp: new Date().toISOString(),
    });
    return { kind: 'success', outputPath: result.output, seconds };
  }

  /** job_timeout > 0 cancels a conversion that runs too long and reports E_TIMEOUT (transient). */
  private async convertWithTimeout(request: ConvertRequest, { signal, onProgress }: ConvertOptions): Promise<ConvertResult> {
    const limit = this.deps.cfg.job_timeout;
    if (limit <= 0) return this.deps.convert(request, { signal, onProgress });
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, limit * 1000);
    try {
      return await this.deps.convert(request, { signal: ac.signal, onProgress });
    } catch (err) {
      if (timedOut && !signal?.aborted)
        throw new H2kError(`conversion took longer than job_timeout (${limit}s)`, { code: 'E_TIMEOUT', file: request.source, cause: err });
      throw err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private async onError(job: Job, pe: PhaseError, signal: AbortSignal): Promise<JobOutcome> {
    const { cfg, log, stats } = this.deps;
    const name = basename(job.primary);
    const error = pe.error;
    if (signal.aborted || error.code === 'E_CANCELLED' || error.code === 'E_QUEUE_LEASE_LOST') {
      log.info('job_cancelled', `Cancelled: ${name} (stays in the watch folder)`, { file: job.primary });
      return { kind: 'cancelled' };
    }
    // A guest fix is not retried: what failed is in the guest's content, and its outputs are gone.
    if (pe.phase !== 'guest_fix' && shouldRetry(cfg.retry_policy, error.code, job.retryCount)) {
      const delay = retryDelayMs(cfg.retry_policy, job.retryCount);
      stats.retriedJob(job.fileType, job.id);
      log.warn('job_retry', `Retrying ${name} in ${(delay / 1000).toFixed(1)}s (attempt ${job.retryCount + 2} of ${cfg.retry_policy.max_retries + 1}): [${error.code}] ${error.message}`, {
        file: job.primary,
        code: error.code,
        retry_count: job.retryCount + 1,
        delay_seconds: delay / 1000,
      });
      return { kind: 'retry', at: Date.now() + delay, error };
    }
    await this.fileFailure(job, pe, `Failed: ${name} in ${pe.phase}`, 'job_failed');
    return { kind: 'failed', error };
  }

  /**
   * Files the watcher turned away before they became a job (a link, a special file, a .vmdk that
   * is no VMDK) under .errors/ with an error record, like a failed job. Nothing here opens them.
   */
  async refuse(files: string[], error: H2kError, phase: Phase): Promise<void> {
    const spec: JobSpec = { id: files[0], primary: files[0], files, fileType: fileTypeOf(files[0]), sizeBytes: 0, queuedAt: new Date().toISOString() };
    const job: Job = { ...spec, state: 'failed', retryCount: 0, notBefore: 0 };
    await this.fileFailure(job, new PhaseError(phase, error), `Refused: ${basename(files[0])}`, 'drop_refused');
  }

  /** .errors/ + error record, stats, log, dedup record and notification of a final failure. */
  private async fileFailure(job: Job, pe: PhaseError, what: string, event: 'job_failed' | 'drop_refused'): Promise<void> {
    const { log, stats } = this.deps;
    const name = basename(job.primary);
    const error = pe.error;
    await this.moveToErrors(job, pe);
    stats.failedJob(job.fileType, job.id, error.message);
    log.error(event, `${what}: [${error.code}] ${error.message}`, {
      file: job.primary,
      code: error.code,
      phase: pe.phase,
      retry_count: job.retryCount,
    });
    await this.deps.dedup?.record({
      filename: name,
      filepath: job.primary,
      file_size: job.sizeBytes,
      status: 'failed',
      error: `[${error.code}] ${error.message}`,
      processed_at: new Date().toISOString(),
    });
    this.deps.notifier.notify({
      event: 'conversion_failure',
      filename: name,
      error: error.message,
      code: error.code,
      retry_count: job.retryCount,
      timestamp: new Date().toISOString(),
    });
  }

  private async moveToErrors(job: Job, pe: PhaseError): Promise<void> {
    const { cfg, log } = this.deps;
    const errorsDir = join(cfg.watch_dir, '.errors');
    const context = await buildErrorContext({
      primary: job.primary,
      files: job.files,
      sizeBytes: job.sizeBytes,
      error: pe.error,
      phase: pe.phase,
      retryCount: job.retryCount,
      outputDir: cfg.output_dir,
      version: this.deps.version,
    });
    try {
      const present: string[] = [];
      // lstat: a link is moved as itself, even when it dangles.
      for (const f of job.files) if (await lstat(f).then(() => true, () => false)) present.push(f);
      const moved = await moveInto(errorsDir, present);
      const primaryMoved = moved[0] && present[0] === job.primary ? moved[0] : join(errorsDir, basename(job.primary));
      await writeJsonAtomic(`${primaryMoved}.error.json`, context);
    } catch (err) {
      log.error('error_context_failed', `Cannot move ${basename(job.primary)} to .errors/: ${(err as Error).message}`, { file: job.primary });
    }
  }
}
