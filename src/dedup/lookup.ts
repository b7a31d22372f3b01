// Is this file already processed? Matches by content hash first (xxh3, then md5), then by
// base name + size (what the daemon checks when it does not hash).
import { basename, join } from 'node:path';
import type { DedupRecord, DedupStore } from './store.js';

export type DedupMatchKind = 'xxh3' | 'md5' | 'name+size';

export interface DedupLookup {
  filename: string;
  file_size: number;
  md5?: string;
  xxh3?: string;
}

export interface DedupMatch {
  record: DedupRecord;
  matchedBy: DedupMatchKind;
}

/** Where the daemon keeps its database for a given output directory. */
export function dedupDbPath(outputDir: string): string {
  return join(outputDir, '.daemon', 'deduplication.db');
}

export function lookupProcessed(store: DedupStore, file: DedupLookup): DedupMatch | undefined {
  if (file.xxh3) {
    const record = store.findByHash('xxh3', file.xxh3);
    if (record) return { record, matchedBy: 'xxh3' };
  }
  if (file.md5) {
    const record = store.findByHash('md5', file.md5);
    if (record) return { record, matchedBy: 'md5' };
  }
  const record = store.findByNameSize(basename(file.filename), file.file_size);
  return record ? { record, matchedBy: 'name+size' } : undefined;
}

/** One human line: "disk.vmdk: processed 2025-01-31T12:00:00.000Z (success) -> /out/disk.qcow2 [xxh3]". */
export function describeMatch(name: string, match: DedupMatch | undefined): string {
  if (!match) return `${name}: not processed (no record in the dedup database)`;
  const r = match.record;
  const output = r.output_path ? ` -> ${r.output_path}` : '';
  const error = r.error ? ` error: ${r.error}` : '';
  return `${name}: processed ${r.processed_at} (${r.status})${output} [matched by ${match.matchedBy}, record ${r.id}]${error}`;
}
