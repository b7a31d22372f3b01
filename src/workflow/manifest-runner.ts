// Runs one manifest: loads it, then every VM through the shared job limiter (a batch's VMs run
// concurrently within the limit, and one failing VM never stops the others).
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import type { ConvertProgress } from '../convert/types.js';
import { H2kError, toH2kError } from '../util/errors.js';
import type { JobJournal } from './job-journal.js';
import type { JobLimiter } from './job-limiter.js';
import { loadManifest, type LoadedManifest } from './manifest-loader.js';
import type { StageName } from './manifest-schema.js';
import { buildManifestReport, type ManifestReport, type VmReport } from './report.js';
import { runVmPipeline, vmFailureError } from './vm-pipeline.js';

export interface ManifestRunOptions {
  outputDir: string;
  /** Directory relative source paths resolve against (default: the manifest's directory). */
  baseDir?: string;
  /** Sources must lie beneath this directory and are opened beneath it (manifest_source_root). */
  sourceRoot?: string;
  limiter: JobLimiter;
  /** Slots of the limiter: splits the machine's cores between concurrent conversions. */
  jobSlots: number;
  /** Name the manifest had when it was dropped (it may have been moved since). */
  originalName?: string;
  jobId?: string;
  journal?: JobJournal;
  signal?: AbortSignal;
  onLoaded?: (manifest: LoadedManifest) => void;
  onProgress?: (vm: string, progress: ConvertProgress) => void;
  onStage?: (vm: string, stage: StageName) => void;
  /** A VM's pipeline finished (completed or failed). */
  onVmDone?: (vm: string) => void;
}

export interface FailedVm {
  name: string;
  stage: StageName;
  code: string;
  error: string;
}

export interface ManifestFailure {
  /** "manifest" when the file itself is unusable, else the first failing VM's stage. */
  stage: StageName | 'manifest';
  error: H2kError;
  failedVms?: FailedVm[];
}

export interface ManifestOutcome {
  jobId: string;
  manifestName: string;
  manifest?: LoadedManifest;
  /** Present once the manifest parsed: every VM and stage. */
  report?: ManifestReport;
  failure?: ManifestFailure;
  /** The run was cancelled (daemon stopping): neither processed nor failed. */
  interrupted: boolean;
}

/** The failure of a run whose VMs all finished: undefined when none failed. */
export function batchFailure(vms: VmReport[]): ManifestFailure | undefined {
  const failed = vms.filter((v) => v.status === 'failed');
  if (failed.length === 0) return undefined;
  const failedVms: FailedVm[] = failed.map((v) => ({
    name: v.name,
    stage: v.failed_stage ?? 'load',
    code: v.error?.code ?? 'E_INTERNAL',
    error: v.error?.message ?? 'failed',
  }));
  const first = failed[0];
  const message =
    vms.length === 1
      ? failedVms[0].error
      : `${failed.length} of ${vms.length} VMs failed: ${failedVms.map((f) => `${f.name} (${f.code} in ${f.stage})`).join(', ')}`;
  return {
    stage: failedVms[0].stage,
    // The thrown error is the cause, so the error record shows where it really began.
    error: vms.length === 1 && vmFailureError(first)
      ? vmFailureError(first)!
      : new H2kError(message, { code: failedVms[0].code, file: first.error?.file, hint: first.error?.hint, cause: vmFailureError(first) }),
    failedVms,
  };
}

export async function runManifest(file: string, options: ManifestRunOptions): Promise<ManifestOutcome> {
  const jobId = options.jobId ?? randomUUID();
  const manifestName = options.originalName ?? basename(file);
  const started = new Date();
  let manifest: LoadedManifest;
  try {
    manifest = await loadManifest(file, { baseDir: options.baseDir, outputDir: options.outputDir });
  } catch (err) {
    return { jobId, manifestName, failure: { stage: 'manifest', error: toH2kError(err) }, interrupted: false };
  }
  options.onLoaded?.(manifest);
  const threads = Math.max(1, Math.floor(availableParallelism() / Math.min(options.jobSlots, manifest.vms.length)));
  const vms = await Promise.all(
    manifest.vms.map((vm) =>
      options.limiter.run(() =>
        runVmPipeline(vm, {
          manifestFile: manifest.file,
          outputDir: options.outputDir,
          ...(options.sourceRoot ? { sourceRoot: options.sourceRoot } : {}),
          signal: options.signal,
          threads,
          journal: options.journal,
          onProgress: options.onProgress,
          onStage: options.onStage,
        }).finally(() => options.onVmDone?.(vm.name)),
      ),
    ),
  );
  const report = buildManifestReport(manifestName, jobId, manifest.name, manifest.batch, vms, started);
  return {
    jobId,
    manifestName,
    manifest,
    report,
    failure: batchFailure(vms),
    interrupted: options.signal?.aborted === true,
  };
}
