// `h2k convert --dry-run`: what each planned conversion would read and write, with which options
// and how many bytes it needs, from reads of the sources only. Nothing is created: no output, no
// directory, no temporary file.
import { existsSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { measureImage } from '../../convert/measure.js';
import type { Compression, OutputFormat } from '../../convert/types.js';
import { loadAddon } from '../../native/addon.js';
import { formatBytes } from '../../util/format.js';
import type { PlannedConversion } from './convert-plan.js';

export interface DryRunEntry {
  source: string;
  sourceFormat: string;
  output: string;
  outputFormat: OutputFormat;
  compression: Compression;
  /** qcow2 only: the cluster size the output would use. */
  clusterSize?: number;
  virtualSize: number;
  requiredBytes: number;
  fullyAllocatedBytes: number;
  requiredIsUpperBound: boolean;
  outputExists: boolean;
  /** What the real run would do with this output. */
  action: 'create' | 'overwrite' | 'refuse';
  /** Free bytes on the output's filesystem (for an unprivileged user). */
  freeBytes?: number;
}

export interface DryRunOptions {
  outputFormat: OutputFormat;
  compression: Compression;
  clusterSize?: number;
  force: boolean;
  sourceFormat?: string;
  allowExternalPaths: boolean;
}

const DEFAULT_CLUSTER = 64 * 1024;

function freeBytesAt(dir: string): number | undefined {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return undefined; // not worth failing a dry run over
  }
}

export async function describePlan(plan: PlannedConversion, o: DryRunOptions): Promise<DryRunEntry> {
  const openOptions = { allowExternalPaths: o.allowExternalPaths, ...(o.sourceFormat ? { format: o.sourceFormat } : {}) };
  const sourceFormat = loadAddon().detectFormat(plan.source, openOptions);
  const m = await measureImage({
    source: plan.source,
    outputFormat: o.outputFormat,
    compression: o.compression,
    clusterSize: o.clusterSize,
    sourceFormat: o.sourceFormat,
    allowExternalPaths: o.allowExternalPaths,
  });
  const output = resolve(plan.output);
  const outputExists = existsSync(output);
  return {
    source: plan.source,
    sourceFormat,
    output,
    outputFormat: o.outputFormat,
    compression: o.outputFormat === 'vmdk' ? 'zlib' : o.compression,
    ...(o.outputFormat === 'qcow2' ? { clusterSize: o.clusterSize ?? DEFAULT_CLUSTER } : {}),
    virtualSize: m.virtualSize,
    requiredBytes: m.required,
    fullyAllocatedBytes: m.fullyAllocated,
    requiredIsUpperBound: m.upperBound,
    outputExists,
    action: !outputExists ? 'create' : o.force ? 'overwrite' : 'refuse',
    freeBytes: freeBytesAt(dirname(output)),
  };
}

export function formatDryRun(e: DryRunEntry): string {
  const actions = {
    create: 'would be created',
    overwrite: 'exists, would be overwritten (--force)',
    refuse: 'exists: the conversion would be refused (exit 4) without --force',
  };
  const lines = [
    `${e.source} -> ${e.output}  (dry run: nothing written)`,
    `  source format:    ${e.sourceFormat}`,
    `  output format:    ${e.outputFormat}${e.outputFormat === 'vmdk' ? ' (streamOptimized)' : ''}`,
    `  compression:      ${e.compression}`,
    ...(e.clusterSize !== undefined ? [`  cluster size:     ${e.clusterSize}`] : []),
    `  virtual size:     ${formatBytes(e.virtualSize)} (${e.virtualSize} bytes)`,
    `  required size:    ${formatBytes(e.requiredBytes)} (${e.requiredBytes} bytes${e.requiredIsUpperBound ? ', an upper bound: compressed output' : ''})`,
    `  fully allocated:  ${formatBytes(e.fullyAllocatedBytes)} (${e.fullyAllocatedBytes} bytes)`,
    `  output:           ${actions[e.action]}`,
  ];
  if (e.freeBytes !== undefined)
    lines.push(`  free space:       ${formatBytes(e.freeBytes)}${e.freeBytes < e.requiredBytes ? '  (less than required: the conversion would run out of space)' : ''}`);
  return lines.join('\n');
}
