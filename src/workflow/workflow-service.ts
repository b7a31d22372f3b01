// The manifest workflow as a self-contained service: watches to_be_processed/, takes manifests
// while fewer than maxConcurrentJobs are in flight, runs them, files the results. Manifests
// found in processing/ at start (a crash) are taken again first. Pause stops taking manifests;
// drain finishes those in flight; stop cancels them, removes what they wrote and puts their
// manifests back in to_be_processed/.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { RunState } from '../service/job-source.js';
import { toH2kError } from '../util/errors.js';
import { buildErrorRecord } from './error-record.js';
import { JobJournal } from './job-journal.js';
import { JobLimiter } from './job-limiter.js';
import { runManifest, type ManifestOutcome } from './manifest-runner.js';
import { WorkflowDirs } from './workflow-dirs.js';
import { manifestStem } from './manifest-loader.js';
import type { StageName } from './manifest-schema.js';
import type { ManifestReport } from './report.js';

export interface WorkflowServiceOptions {
  workflowDir: string;
  outputDir: string;
  maxConcurrentJobs: number;
  /** A manifest must be unchanged this long before it is taken (it may still be being written). */
  stabilityMs?: number;
  /** Directory rescan interval, a safety net under the watcher. */
  rescanIntervalMs?: number;
  /** Poll instead of inotify (network filesystems). */
  usePolling?: boolean;
  /** manifest_source_root: every manifest's sources must lie beneath it. */
  sourceRoot?: string;
}

export type WorkflowEvent =
  | { type: 'taken'; manifest: string; jobId: string; recovered: boolean }
  | { type: 'cleaned'; manifest: string; removed: string[] }
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

interface RunningJob {
  jobId: string;
  abort: AbortController;
  done: Promise<void>;
}

export class ManifestWorkflowService extends EventEmitter {
  readonly dirs: WorkflowDirs;
  private readonly limiter: JobLimiter;
  private readonly running = new Map<string, RunningJob>();
  private readonly recovered: string[] = [];
  private readonly stabilityMs: number;
  private readonly rescanMs: number;
  private watcher?: FSWatcher;
  private rescanTimer?: NodeJS.Timeout;
  private deferTimer?: NodeJS.Timeout;
  private accepting = false;
  private paused = false;
  private state: RunState = 'running';
  private readonly vms = new Map<string, RunningVm>();
  private pumping = false;
  private pumpAgain = false;

  constructor(private readonly options: WorkflowServiceOptions) {
    super();
    this.dirs = new WorkflowDirs(options.workflowDir);
    this.limiter = new JobLimiter(options.maxConcurrentJobs);
    this.stabilityMs = options.stabilityMs ?? 1000;
    this.rescanMs = options.rescanIntervalMs ?? 5000;
  }

  get runState(): RunState {
    return this.state === 'running' && this.paused ? 'paused' : this.state;
  }

  /** Manifests being processed now, by name. */
  get runningManifests(): string[] {
    return [...this.running.keys()];
  }

  /** VMs whose pipeline has started and not finished, with their current stage. */
  get runningVms(): RunningVm[] {
    return [...this.vms.values()];
  }

  /** A new job limit (config reload): more manifests and VMs may start; none is cancelled. */
  setMaxConcurrentJobs(n: number): void {
    this.options.maxConcurrentJobs = n;
    this.limiter.setLimit(n);
    this.pump();
  }

  /** Takes no new manifests until resume(); those in flight carry on. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  private emitEvent(e: WorkflowEvent): void {
    this.emit('event', e);
    this.emit(e.type, e);
  }

  async start(): Promise<void> {
    await this.dirs.ensure();
    this.recovered.push(...(await this.dirs.listProcessing()).map((m) => m.name));
    this.accepting = true;
    this.watcher = watch(this.dirs.queueDir, {
      depth: 0,
      ignoreInitial: true,
      usePolling: this.options.usePolling ?? false,
      interval: 500,
    });
    this.watcher.on('add', () => this.pump());
    this.watcher.on('change', () => this.pump());
    this.watcher.on('error', (err) => this.emitEvent({ type: 'error', code: toH2kError(err).code, error: String((err as Error)?.message ?? err) }));
    await new Promise<void>((r) => this.watcher!.once('ready', () => r()));
    this.rescanTimer = setInterval(() => this.pump(), this.rescanMs);
    this.rescanTimer.unref();
    this.pump();
  }

  /** Takes nothing new; resolves when every manifest in flight has been filed. */
  async drain(): Promise<void> {
    if (this.state === 'running') this.state = 'draining';
    await this.closeIntake();
    await Promise.all([...this.running.values()].map((j) => j.done));
    if (this.state === 'draining') this.state = 'stopped';
  }

  /**
   * Takes nothing new (queued manifests stay in to_be_processed/); those in flight get graceMs
   * to finish, then are cancelled as by stop().
   */
  async shutdown(graceMs: number): Promise<boolean> {
    this.state = 'stopping';
    await this.closeIntake();
    if (await within(Promise.all([...this.running.values()].map((j) => j.done)), graceMs)) {
      this.state = 'stopped';
      return true;
    }
    return this.stop();
  }

  /**
   * Cancels the jobs in flight: their outputs are removed and their manifests go back to
   * to_be_processed/. Resolves false if some job ignored the cancellation for graceMs (it is
   * abandoned in processing/, taken again on the next start).
   */
  async stop(graceMs = 30_000): Promise<boolean> {
    this.state = 'stopping';
    await this.closeIntake();
    for (const j of this.running.values()) j.abort.abort();
    const settled = await within(Promise.all([...this.running.values()].map((j) => j.done)), graceMs);
    this.state = 'stopped';
    if (!settled)
      for (const name of this.running.keys())
        this.emitEvent({ type: 'error', manifest: name, code: 'E_TIMEOUT', error: `did not stop within ${graceMs / 1000}s of cancellation; left in processing/` });
    return settled;
  }

  private async closeIntake(): Promise<void> {
    this.accepting = false;
    clearInterval(this.rescanTimer);
    clearTimeout(this.deferTimer);
    const w = this.watcher;
    this.watcher = undefined;
    await w?.close();
  }

  private pump(): void {
    if (!this.accepting || this.paused) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    this.fill()
      .catch((err) => {
        const e = toH2kError(err);
        this.emitEvent({ type: 'error', code: e.code, error: e.message });
      })
      .finally(() => {
        this.pumping = false;
        if (this.pumpAgain) {
          this.pumpAgain = false;
          this.pump();
        }
      });
  }

  private async fill(): Promise<void> {
    const limit = this.options.maxConcurrentJobs;
    if (this.paused) return;
    while (this.accepting && this.running.size < limit && this.recovered.length > 0) this.begin(this.recovered.shift()!, true);
    if (!this.accepting || this.running.size >= limit) return;
    const now = Date.now();
    let youngest = Infinity;
    for (const m of await this.dirs.listQueued()) {
      if (!this.accepting || this.paused || this.running.size >= limit) return;
      if (this.running.has(m.name)) continue; // a namesake is in flight: take this one after it
      const age = now - m.mtimeMs;
      if (age < this.stabilityMs) {
        youngest = Math.min(youngest, this.stabilityMs - age);
        continue;
      }
      if (await this.dirs.claim(m.name)) this.begin(m.name, false);
    }
    if (youngest !== Infinity) {
      clearTimeout(this.deferTimer);
      this.deferTimer = setTimeout(() => this.pump(), youngest + 50);
    }
  }

  private begin(name: string, recovered: boolean): void {
    const jobId = randomUUID();
    const abort = new AbortController();
    const done = this.process(name, jobId, abort.signal, recovered)
      .catch((err) => {
        const e = toH2kError(err);
        this.emitEvent({ type: 'error', manifest: name, code: e.code, error: e.message });
      })
      .finally(() => {
        this.running.delete(name);
        this.pump();
      });
    this.running.set(name, { jobId, abort, done });
  }

  private async process(name: string, jobId: string, signal: AbortSignal, recovered: boolean): Promise<void> {
    this.emitEvent({ type: 'taken', manifest: name, jobId, recovered });
    const journal = await JobJournal.open(JobJournal.pathFor(this.dirs.processingDir, name), jobId, name);
    if (journal.leftovers.length > 0) {
      // A previous run of this manifest died mid-way: its outputs are not trustworthy.
      const removed = await journal.removeLeftovers();
      this.emitEvent({ type: 'cleaned', manifest: name, removed });
    }
    const started = Date.now();
    const outcome = await runManifest(join(this.dirs.processingDir, name), {
      outputDir: this.options.outputDir,
      baseDir: this.dirs.queueDir,
      ...(this.options.sourceRoot ? { sourceRoot: this.options.sourceRoot } : {}),
      limiter: this.limiter,
      jobSlots: this.options.maxConcurrentJobs,
      originalName: name,
      jobId,
      journal,
      signal,
      onStage: (vm, stage) => {
        const key = `${name}\0${vm}`;
        const known = this.vms.get(key);
        this.vms.set(key, { manifest: name, job_id: jobId, vm, stage, started_at: known?.started_at ?? new Date().toISOString() });
        this.emitEvent({ type: 'vm', manifest: name, vm, stage });
      },
      onProgress: (vm, p) => {
        const running = this.vms.get(`${name}\0${vm}`);
        if (!running || p.phase === 'verify') return;
        Object.assign(running, { bytes_done: p.bytesDone, bytes_total: p.bytesTotal });
        const mine = [...this.vms.values()].filter((v) => v.manifest === name);
        const sum = (k: 'bytes_done' | 'bytes_total') => mine.reduce((a, v) => a + (v[k] ?? 0), 0);
        this.emitEvent({ type: 'progress', manifest: name, jobId, bytesDone: sum('bytes_done'), bytesTotal: sum('bytes_total') });
      },
      onVmDone: (vm) => {
        if (this.vms.delete(`${name}\0${vm}`)) this.emitEvent({ type: 'vm', manifest: name, vm, stage: 'done' });
      },
    });
    if (outcome.interrupted) {
      // Cancelled by stop: nothing it wrote may look finished, and it runs again from the queue.
      const removed = await journal.removeLeftovers();
      await journal.remove();
      const requeued = await this.dirs.requeue(name);
      this.emitEvent({ type: 'interrupted', manifest: name, jobId, requeued, removed });
      return;
    }
    await this.file(name, outcome, (Date.now() - started) / 1000);
    await journal.remove();
  }

  private async file(name: string, outcome: ManifestOutcome, seconds: number): Promise<void> {
    const stem = manifestStem(name);
    if (!outcome.failure && outcome.report) {
      const done = await this.dirs.finish(name, 'processed', { '.report.json': outcome.report });
      this.emitEvent({
        type: 'processed', manifest: name, jobId: outcome.jobId, path: done.manifestPath, report: done.files[0], seconds,
        bytes: bytesWritten(outcome.report),
      });
      return;
    }
    const failure = outcome.failure!;
    const results: Record<string, unknown> = { '.error.json': buildErrorRecord(outcome.jobId, name, failure, join(this.dirs.processingDir, name)) };
    if (outcome.report) results['.report.json'] = outcome.report;
    const done = await this.dirs.finish(name, 'failed', results);
    this.emitEvent({
      type: 'failed', manifest: name, jobId: outcome.jobId, path: done.manifestPath,
      stage: failure.stage, code: failure.error.code, error: `${stem}: ${failure.error.message}`,
    });
  }
}

/** True when `p` settles within ms. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([p.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
  clearTimeout(timer);
  return settled;
}

/** Bytes of converted output a report accounts for (every VM of a batch). */
function bytesWritten(report: ManifestReport): number {
  const stages = report.vms ? report.vms.map((v) => v.stages) : report.stages ? [report.stages] : [];
  return stages.reduce((a, st) => a + (typeof st.convert.bytes === 'number' ? st.convert.bytes : 0), 0);
}
