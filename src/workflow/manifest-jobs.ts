// The manifest workflow's jobs on the daemon's JobQueue seam (src/daemon/queue/job-queue.ts),
// run by the same Scheduler as the watch folder's. Two kinds:
//   take: moves a manifest from to_be_processed/ to processing/ (a rename: on a shared folder
//         exactly one host wins it), loads it, begins its run in the RunLedger and queues one
//         VM job per VM; a manifest that does not load is filed under failed/ at once.
//   vm:   runs one VM's pipeline and records its report in the ledger; the VM that completes
//         the set (decided by the ledger) files the manifest's report under processed/ or failed/.
// With queue_url the jobs are the cluster's: a batch's VMs spread over the hosts, and a VM job of
// a host that died is taken over after its lease (its journal names the outputs to discard).
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { JobOutcome } from '../daemon/job-runner.js';
import type { Job, JobQueue, JobSpec, ManifestJobRef } from '../daemon/queue/job-queue.js';
import { H2kError, toH2kError } from '../util/errors.js';
import { buildErrorRecord } from './error-record.js';
import { JobJournal } from './job-journal.js';
import { loadManifest, manifestStem, type LoadedManifest } from './manifest-loader.js';
import { batchFailure, type ManifestOutcome } from './manifest-runner.js';
import { STAGE_NAMES, type StageName } from './manifest-schema.js';
import { buildManifestReport, reportedError, type ManifestReport, type StageReport, type VmReport } from './report.js';
import type { ManifestRun, RunLedger } from './run-ledger.js';
import { runVmPipeline } from './vm-pipeline.js';
import type { WorkflowDirs } from './workflow-dirs.js';

export type WorkflowEvent =
  | { type: 'taken'; manifest: string; jobId: string; recovered: boolean }
  | { type: 'cleaned'; manifest: string; removed: string[] }
  /** this host started its first VM of a run / ran its last one */
  | { type: 'run_here'; manifest: string; jobId: string }
  | { type: 'run_left'; manifest: string; jobId: string }
  | { type: 'processed'; manifest: string; jobId: string; path: string; report: string; seconds: number; bytes: number }
  | { type: 'failed'; manifest: string; jobId: string; path: string; stage: string; code: string; error: string }
  | { type: 'interrupted'; manifest: string; jobId: string; requeued: boolean; removed: string[] }
  | { type: 'vm'; manifest: string; vm: string; stage: StageName | 'done' }
  | { type: 'progress'; manifest: string; jobId: string; bytesDone: number; bytesTotal: number }
  | { type: 'error'; manifest?: string; code: string; error: string };

export interface RunningVm {
  manifest: string;
  job_id: string;
  vm: string;
  stage: StageName;
  started_at: string;
  bytes_done?: number;
  bytes_total?: number;
}

export interface ManifestJobsOptions {
  dirs: WorkflowDirs;
  outputDir: string;
  /** manifest_source_root: every manifest's sources must lie beneath it. */
  sourceRoot?: string;
  queue: JobQueue;
  ledger: RunLedger;
  /** max_concurrent_jobs now: splits the machine's cores between concurrent conversions */
  jobSlots: () => number;
}

const DONE: JobOutcome = { kind: 'duplicate' };
/** A namesake of a manifest still running: its take waits this long and looks again. */
const NAMESAKE_WAIT_MS = 2000;

export class ManifestJobs extends EventEmitter {
  /** VM job id -> the VM it runs on this host */
  private readonly vms = new Map<string, RunningVm>();

  constructor(private readonly o: ManifestJobsOptions) {
    super();
  }

  /** Manifests with a VM running on this host, by name. */
  get runningManifests(): string[] {
    return [...new Set([...this.vms.values()].map((v) => v.manifest))];
  }

  get runningVms(): RunningVm[] {
    return [...this.vms.values()];
  }

  private emitEvent(e: WorkflowEvent): void {
    this.emit('event', e);
  }

  /** The take job of a manifest in to_be_processed/ (or, `recovered`, left in processing/ by a crash). */
  takeSpec(name: string, recovered = false): JobSpec {
    const dir = recovered ? this.o.dirs.processingDir : this.o.dirs.queueDir;
    return { id: `take:${name}`, primary: join(dir, name), files: [join(dir, name)], fileType: 'manifest', sizeBytes: 0, queuedAt: new Date().toISOString(), manifest: { kind: 'take', name, ...(recovered ? { recovered } : {}) } };
  }

  private vmSpec(run: ManifestRun, vm: number): JobSpec {
    const file = join(this.o.dirs.processingDir, run.name);
    return { id: `${run.run}#${vm}`, primary: file, files: [file], fileType: 'manifest', sizeBytes: 0, queuedAt: new Date().toISOString(), manifest: { kind: 'vm', name: run.name, run: run.run, vm, vms: run.vms } };
  }

  /** The Scheduler's run function for manifest jobs. */
  run = async (job: Job, signal: AbortSignal): Promise<JobOutcome> => {
    const ref = job.manifest;
    if (!ref) throw new H2kError(`job ${job.id} is not a manifest workflow job`, { code: 'E_INTERNAL' });
    return ref.kind === 'take' ? this.take(ref.name) : this.runVm(job, ref, signal);
  };

  private async take(name: string): Promise<JobOutcome> {
    const { dirs, ledger } = this.o;
    const queued = join(dirs.queueDir, name);
    const taken = join(dirs.processingDir, name);
    const active = await ledger.active(name);
    if (active) {
      // A namesake runs: take this one after it.
      if (existsSync(queued)) return { kind: 'retry', at: Date.now() + NAMESAKE_WAIT_MS, error: new H2kError(`${name}: a manifest of that name is running`, { code: 'E_BUSY' }) };
      // The take that began this run died before queueing every VM (its lease brought it here).
      await this.queueVms(active);
      return DONE;
    }
    // In processing/ without a run: left there by a crash (single host) or by a take that died.
    const recovered = existsSync(taken);
    if (!recovered && !(await dirs.claim(name))) return DONE; // gone: another host took it
    const started = Date.now();
    if (recovered) {
      const removed = await JobJournal.discardAll(dirs.processingDir, name);
      if (removed.length > 0) this.emitEvent({ type: 'cleaned', manifest: name, removed });
    }
    let manifest: LoadedManifest;
    try {
      manifest = await this.load(name);
    } catch (err) {
      const jobId = randomUUID();
      this.emitEvent({ type: 'taken', manifest: name, jobId, recovered });
      this.emitEvent({ type: 'run_here', manifest: name, jobId });
      await this.file(name, { jobId, manifestName: name, failure: { stage: 'manifest', error: toH2kError(err) }, interrupted: false }, (Date.now() - started) / 1000);
      return DONE;
    }
    const run = await ledger.begin(name, manifest.vms.length);
    if (!run) return { kind: 'retry', at: Date.now() + NAMESAKE_WAIT_MS, error: new H2kError(`${name}: a run of it began elsewhere`, { code: 'E_BUSY' }) };
    this.emitEvent({ type: 'taken', manifest: name, jobId: run.run, recovered });
    await this.queueVms(run);
    return DONE;
  }

  /** Queues the VM jobs of a run whose report is not yet recorded. */
  private async queueVms(run: ManifestRun): Promise<void> {
    const st = await this.o.ledger.state(run.run);
    for (let i = 0; i < run.vms; i++) if (!st?.reports.has(i)) await this.o.queue.enqueue(this.vmSpec(run, i));
  }

  private load(name: string): Promise<LoadedManifest> {
    // Relative source paths resolve against to_be_processed/, where the manifest was dropped.
    return loadManifest(join(this.o.dirs.processingDir, name), { baseDir: this.o.dirs.queueDir, outputDir: this.o.outputDir });
  }

  private async runVm(job: Job, ref: Extract<ManifestJobRef, { kind: 'vm' }>, signal: AbortSignal): Promise<JobOutcome> {
    const { ledger } = this.o;
    const st = await ledger.state(ref.run);
    if (!st || st.filed) return DONE; // queued again after its run was filed
    if (st.reports.has(ref.vm)) {
      // Done before its host died: file if it was the last (the ledger named it), else nothing.
      if (st.filer === job.id) await this.fileRun(ref, job.id);
      return DONE;
    }
    this.enter(ref);
    try {
      const report = await this.pipeline(job, ref, signal);
      if (signal.aborted) return { kind: 'cancelled' };
      if (await ledger.record(ref.run, ref.vm, report, job.id)) await this.fileRun(ref, job.id);
      return DONE;
    } finally {
      this.leave(ref);
    }
  }

  /** run id -> VM jobs of it running on this host (stats show the run while any does) */
  private readonly here = new Map<string, number>();

  private enter({ run, name }: { run: string; name: string }): void {
    const n = this.here.get(run) ?? 0;
    this.here.set(run, n + 1);
    if (n === 0) this.emitEvent({ type: 'run_here', manifest: name, jobId: run });
  }

  private leave({ run, name }: { run: string; name: string }): void {
    const n = (this.here.get(run) ?? 1) - 1;
    if (n > 0) return void this.here.set(run, n);
    this.here.delete(run);
    this.emitEvent({ type: 'run_left', manifest: name, jobId: run });
  }

  /** One VM's pipeline on this host, shown in status and stats while it runs. */
  private async pipeline(job: Job, ref: Extract<ManifestJobRef, { kind: 'vm' }>, signal: AbortSignal): Promise<VmReport> {
    const { name, run } = ref;
    let manifest: LoadedManifest;
    try {
      manifest = await this.load(name);
    } catch (err) {
      return unloadable(`vm-${ref.vm + 1}`, toH2kError(err));
    }
    const vm = manifest.vms[ref.vm];
    if (!vm) return unloadable(`vm-${ref.vm + 1}`, new H2kError(`${name} changed in processing/: it has no VM ${ref.vm + 1} any more`, { code: 'E_MANIFEST_INVALID' }));
    // shown from here on (stage load), not from the pipeline's first stage: the journal's clean-up
    // of a dead run's leftovers can take a while, and status must not show the batch idle meanwhile
    this.vms.set(job.id, { manifest: name, job_id: run, vm: vm.name, stage: 'load', started_at: new Date().toISOString() });
    try {
      const journal = await JobJournal.open(JobJournal.pathFor(this.o.dirs.processingDir, name, ref.vm), run, name);
      if (journal.leftovers.length > 0) {
        // This VM's previous run died mid-way (its host was killed): its outputs are not trustworthy.
        this.emitEvent({ type: 'cleaned', manifest: name, removed: await journal.removeLeftovers() });
      }
      const threads = Math.max(1, Math.floor(availableParallelism() / Math.min(this.o.jobSlots(), ref.vms)));
      return await runVmPipeline(vm, {
        manifestFile: manifest.file,
        outputDir: this.o.outputDir,
        ...(this.o.sourceRoot ? { sourceRoot: this.o.sourceRoot } : {}),
        signal,
        threads,
        journal,
        onStage: (vmName, stage) => {
          const known = this.vms.get(job.id);
          this.vms.set(job.id, { manifest: name, job_id: run, vm: vmName, stage, started_at: known?.started_at ?? new Date().toISOString() });
          this.emitEvent({ type: 'vm', manifest: name, vm: vmName, stage });
        },
        onProgress: (_vm, p) => {
          const running = this.vms.get(job.id);
          if (!running || p.phase === 'verify') return;
          Object.assign(running, { bytes_done: p.bytesDone, bytes_total: p.bytesTotal });
          const mine = [...this.vms.values()].filter((v) => v.job_id === run);
          const sum = (k: 'bytes_done' | 'bytes_total') => mine.reduce((a, v) => a + (v[k] ?? 0), 0);
          this.emitEvent({ type: 'progress', manifest: name, jobId: run, bytesDone: sum('bytes_done'), bytesTotal: sum('bytes_total') });
        },
      });
    } finally {
      if (this.vms.delete(job.id)) this.emitEvent({ type: 'vm', manifest: name, vm: vm.name, stage: 'done' });
    }
  }

  /** Files the report of a run whose VMs are all recorded (this job is its filer). */
  private async fileRun(ref: Extract<ManifestJobRef, { kind: 'vm' }>, jobId: string): Promise<void> {
    const { ledger, dirs } = this.o;
    const st = await ledger.state(ref.run);
    if (!st || st.filed || st.filer !== jobId) return;
    // The filer before this one (its host died) moved the manifest out already.
    if (existsSync(join(dirs.processingDir, ref.name))) {
      const manifest = await this.load(ref.name).catch(() => undefined);
      const vms = Array.from({ length: ref.vms }, (_, i) => st.reports.get(i)!);
      const report = buildManifestReport(ref.name, ref.run, manifest?.name ?? manifestStem(ref.name), manifest?.batch ?? ref.vms > 1, vms, st.startedAt);
      const outcome: ManifestOutcome = { jobId: ref.run, manifestName: ref.name, ...(manifest ? { manifest } : {}), report, failure: batchFailure(vms), interrupted: false };
      // Journals first: outputs of a filed run must never be taken for leftovers.
      await JobJournal.forgetAll(dirs.processingDir, ref.name);
      await this.file(ref.name, outcome, (Date.now() - st.startedAt.getTime()) / 1000);
    }
    await ledger.filed(ref.run);
  }

  /**
   * Single host, after its scheduler stopped: runs that will not finish (cancelled, or VMs left
   * waiting) lose every output they wrote and their manifests go back to to_be_processed/.
   */
  async interruptUnfinished(): Promise<void> {
    const { ledger, dirs } = this.o;
    for (const run of await ledger.unfiled()) {
      const removed = await JobJournal.discardAll(dirs.processingDir, run.name);
      const requeued = await dirs.requeue(run.name);
      await ledger.drop(run.run);
      this.emitEvent({ type: 'interrupted', manifest: run.name, jobId: run.run, requeued, removed });
    }
  }

  private async file(name: string, outcome: ManifestOutcome, seconds: number): Promise<void> {
    const { dirs } = this.o;
    if (!outcome.failure && outcome.report) {
      const done = await dirs.finish(name, 'processed', { '.report.json': outcome.report }, new Date(), outcome.jobId);
      this.emitEvent({ type: 'processed', manifest: name, jobId: outcome.jobId, path: done.manifestPath, report: done.files[0], seconds, bytes: bytesWritten(outcome.report) });
      return;
    }
    const failure = outcome.failure!;
    const results: Record<string, unknown> = { '.error.json': buildErrorRecord(outcome.jobId, name, failure, join(dirs.processingDir, name)) };
    if (outcome.report) results['.report.json'] = outcome.report;
    const done = await dirs.finish(name, 'failed', results, new Date(), outcome.jobId);
    this.emitEvent({
      type: 'failed', manifest: name, jobId: outcome.jobId, path: done.manifestPath,
      stage: failure.stage, code: failure.error.code, error: `${manifestStem(name)}: ${failure.error.message}`,
    });
  }
}

/** The report of a VM whose manifest could no longer be read when its job ran. */
function unloadable(name: string, error: H2kError): VmReport {
  const now = new Date().toISOString();
  const stages = Object.fromEntries(STAGE_NAMES.map((s) => [s, { status: 'not_run' } as StageReport])) as Record<StageName, StageReport>;
  stages.load = { status: 'failed', error: reportedError(error) };
  return { name, status: 'failed', failed_stage: 'load', error: reportedError(error), started_at: now, completed_at: now, duration_seconds: 0, stages, artifacts: { input: '', output: null, hashes: {} } };
}

/** Bytes of converted output a report accounts for (every VM of a batch). */
function bytesWritten(report: ManifestReport): number {
  const stages = report.vms ? report.vms.map((v) => v.stages) : report.stages ? [report.stages] : [];
  return stages.reduce((a, st) => a + (typeof st.convert.bytes === 'number' ? st.convert.bytes : 0), 0);
}
