// <name>.error.json beside a failed manifest: what failed, where, and what to do about it.
import type { ManifestFailure } from './manifest-runner.js';

export interface ErrorRecord {
  job_id: string;
  original_name: string;
  failed_at: string;
  status: 'failed';
  stage: string;
  code: string;
  error: string;
  exception: string;
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
    exception: e.name,
    ...(e.hint ? { hint: e.hint } : {}),
    ...(e.file && e.file !== movedFrom ? { file: e.file } : {}),
    ...(Array.isArray(issues) ? { issues: issues as string[] } : {}),
    ...(failure.failedVms ? { failed_vms: failure.failedVms } : {}),
  };
}
