// The report written for every manifest, in the shape hyper2kvm documents: "manifest" (the
// name without extension), "status": "completed" overall, "status": "success" per stage,
// artifacts.input / artifacts.output; h2k adds hashes, timings and batch details. Stages the
// manifest leaves out are "skipped"; stages after a failure are "not_run".
import type { H2kError } from '../util/errors.js';
import { manifestStem } from './manifest-loader.js';
import type { StageName } from './manifest-schema.js';

export type StageStatus = 'success' | 'skipped' | 'failed' | 'not_run';

export interface ReportedError {
  code: string;
  message: string;
  file?: string;
  hint?: string;
  issues?: string[];
}

export interface StageReport {
  status: StageStatus;
  reason?: string;
  duration_seconds?: number;
  error?: ReportedError;
  [detail: string]: unknown;
}

export type HashSet = Partial<Record<string, string>>;

/** output_content: the final file's content (after guest fixes); converted_content: the output as
 *  converted, before fixes (what matched the source), present only when a fix changed it. */
export type ArtifactHashes = { source_file?: HashSet; source_content?: HashSet; output_content?: HashSet; converted_content?: HashSet };

/** One disk of a multi-disk VM (source_type ova/ovf), in controller order from 1. */
export interface DiskArtifacts {
  disk: number;
  input: string;
  output: string | null;
  hashes: ArtifactHashes;
}

/** output/hashes: the (boot) disk; multi-disk VMs also list every disk and the libvirt XML. */
export interface VmArtifacts {
  input: string;
  output: string | null;
  hashes: ArtifactHashes;
  disks?: DiskArtifacts[];
  libvirt_xml?: string | null;
}

export interface VmReport {
  name: string;
  status: 'completed' | 'failed';
  failed_stage?: StageName;
  error?: ReportedError;
  started_at: string;
  completed_at: string;
  duration_seconds: number;
  stages: Record<StageName, StageReport>;
  artifacts: VmArtifacts;
}

export interface ManifestReport {
  /** the manifest's name without extension (hyper2kvm's "manifest") */
  manifest: string;
  /** the file name it was dropped under */
  manifest_file: string;
  job_id: string;
  name: string;
  status: 'completed' | 'failed' | 'partial';
  started_at: string;
  completed_at: string;
  duration_seconds: number;
  /** Single-VM manifests: the VM's stages and artifacts at the top level. */
  stages?: Record<StageName, StageReport>;
  artifacts?: VmArtifacts;
  error?: ReportedError;
  failed_stage?: StageName;
  /** Batch manifests: one entry per VM, in manifest order. */
  batch?: true;
  vms?: VmReport[];
  summary?: { total: number; completed: number; failed: number; failed_vms: string[] };
}

export function reportedError(e: H2kError): ReportedError {
  const out: ReportedError = { code: e.code, message: e.message };
  if (e.file) out.file = e.file;
  if (e.hint) out.hint = e.hint;
  const issues = (e as { issues?: unknown }).issues;
  if (Array.isArray(issues)) out.issues = issues as string[];
  return out;
}

export function secondsBetween(start: Date, end: Date): number {
  return Math.round((end.getTime() - start.getTime()) / 10) / 100;
}

export function buildManifestReport(
  manifestName: string,
  jobId: string,
  name: string,
  batch: boolean,
  vms: VmReport[],
  startedAt: Date,
): ManifestReport {
  const completedAt = new Date();
  const failed = vms.filter((v) => v.status === 'failed');
  const base = {
    manifest: manifestStem(manifestName),
    manifest_file: manifestName,
    job_id: jobId,
    name,
    started_at: startedAt.toISOString(),
    completed_at: completedAt.toISOString(),
    duration_seconds: secondsBetween(startedAt, completedAt),
  };
  if (!batch) {
    const vm = vms[0];
    return {
      ...base,
      status: vm.status,
      ...(vm.failed_stage ? { failed_stage: vm.failed_stage, error: vm.error } : {}),
      stages: vm.stages,
      artifacts: vm.artifacts,
    };
  }
  return {
    ...base,
    status: failed.length === 0 ? 'completed' : failed.length === vms.length ? 'failed' : 'partial',
    batch: true,
    vms,
    summary: { total: vms.length, completed: vms.length - failed.length, failed: failed.length, failed_vms: failed.map((v) => v.name) },
  };
}
