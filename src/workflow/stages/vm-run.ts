// The state one VM's pipeline run carries from stage to stage (stages/*.ts), and what the stages
// share: the boot disk, the content hash the report gives, the names of per-disk checks.
import type { ConvertProgress, ConvertResult } from '../../convert/types.js';
import type { HashAlgorithm } from '../../hash/algorithms.js';
import type { JobJournal } from '../job-journal.js';
import type { ManifestVm } from '../manifest-loader.js';
import type { Pipeline, StageName } from '../manifest-schema.js';
import type { StageReport, VmArtifacts } from '../report.js';
import type { SourceProbe } from '../source-probe.js';

/** Hash the report gives for source and output content: fast, 128-bit. */
export const CONTENT_HASH: HashAlgorithm = 'xxh128';
export const BOOT_DISK_NOTE = 'boot disk: disk 1 in controller order';

export interface VmRunContext {
  manifestFile: string;
  outputDir: string;
  /** manifest_source_root: the VM's source must lie beneath it and is opened beneath it. */
  sourceRoot?: string;
  signal?: AbortSignal;
  /** Compression threads for this VM's conversion. */
  threads?: number;
  journal?: JobJournal;
  onProgress?: (vm: string, progress: ConvertProgress) => void;
  onStage?: (vm: string, stage: StageName) => void;
}

/** What a stage returns: its report's details. The runner adds status and duration_seconds (its
 *  wall time, unless the stage gives its own). */
export type StageDetails = Partial<StageReport>;

export type ValidationCheck = { name: string; passed: boolean | null; detail: string };

export interface VmRun {
  vm: ManifestVm;
  ctx: VmRunContext;
  pipeline: Pipeline;
  /** source_type ova/ovf (see vm-pipeline.ts). */
  multiDisk: boolean;
  /** The report's artifacts; libvirt_xml is also the domain XML the validate stage checks. */
  artifacts: VmArtifacts;
  checks: ValidationCheck[];
  probe?: SourceProbe;
  /** Every disk's conversion in controller order, once the convert stage made them. */
  results: ConvertResult[];
  /** The validate stage's time: the read-back during convert plus its own checks, never the fix's. */
  validateMs: number;
  /** Marks the stage running now (the one a failure is reported against). */
  enter(stage: StageName): void;
  /** Files this run is about to create: journalled first, so a crash or a failure removes them. */
  willCreate(path: string): Promise<void>;
}

export const secondsSince = (t: number) => Math.round((Date.now() - t) / 10) / 100;

/** Stage report fields that name the boot disk of a multi-disk VM. */
export const bootNote = (run: VmRun) => (run.multiDisk ? { disk: 1, applies_to: BOOT_DISK_NOTE } : {});

/** A check of disk i (from 0): a multi-disk VM's check names its disk. */
export const diskCheck = (run: VmRun, check: string, i: number) => (run.multiDisk && i >= 0 ? `${check} disk ${i + 1}` : check);
