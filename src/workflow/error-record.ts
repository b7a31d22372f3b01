// my-vm.json.error.json beside a failed manifest: what failed, where, and what to do about it.
// hyper2kvm's keys (job_id, original_name, failed_at, error, exception, status) with its
// meanings: "error" is the message, "exception" the stack (with its causes), like its traceback.
import type { ManifestFailure } from './manifest-runner.js';

export interface ErrorRecord {
  job_id: string;
  original_name: string;
  failed_at: string;
  status: 'failed';
  stage: string;
  code: string;
  error: string;
  /** the stack of the error and of each cause */
  exception: string;
  /** the error's class, e.g. ManifestError */
  exception_type: string;
  hint?: string;
  file?: string;
  /** Every schema problem, each with the path of the bad field. */
  issues?: string[];
  /** Batch manifests: which VMs failed, at which stage. The report lists the rest. */
  failed_vms?: ManifestFailure['failedVms'];
}

/** `movedFrom`: the manifest's transient path (processing/...), not worth reporting as the file. */
export function buildErrorRecord(jobId: string, originalName: string, failure: ManifestFailure, movedFrom?: string): ErrorRecord {
  const e = failure.error;
  const issues = (e as { issues?: unknown }).issues;
  return {
    job_id: jobId,
    original_name: originalName,
    failed_at: new Date().toISOString(),
    status: 'failed',
    stage: failure.stage,
    code: e.code,
    error: e.message,
    exception: stackOf(e),
    exception_type: e.name,
    ...(e.hint ? { hint: e.hint } : {}),
    ...(e.file && e.file !== movedFrom ? { file: e.file } : {}),
    ...(Array.isArray(issues) ? { issues: issues as string[] } : {}),
    ...(failure.failedVms ? { failed_vms: failure.failedVms } : {}),
  };
}

/** The stack of `err`, then "Caused by:" each cause's, so the record shows where it really began. */
export function stackOf(err: unknown, depth = 0): string {
  const e = err as { stack?: unknown; message?: unknown; cause?: unknown } | undefined;
  const own = typeof e?.stack === 'string' ? e.stack : String(e?.message ?? err);
  if (depth >= 5 || e?.cause === undefined) return own;
  return `${own}\nCaused by: ${stackOf(e.cause, depth + 1)}`;
}
