// Duplicate detection against the SQLite store shared with `h2k hash` (src/dedup/store.ts):
// filename + size by default, or a content hash (md5, or the much faster xxh3) computed in a
// pool worker so the event loop never reads the image.
import { basename } from 'node:path';
import { DedupStore, type DedupRecord, type DedupRecordInput } from '../dedup/store.js';
import { hashFile } from '../hash/hash-file.js';
import type { Logger } from './logger.js';

export type DedupHash = 'md5' | 'xxh3';

type HashFileFn = (path: string, algos: DedupHash[], opts?: { signal?: AbortSignal }) => Promise<Partial<Record<string, string>>>;

export interface DedupOptions {
  dbPath: string;
  useHash: boolean;
  hash: DedupHash;
  log: Logger;
}

export interface DedupCheck {
  duplicateOf?: DedupRecord;
  hashes: Partial<Record<DedupHash, string>>;
}

export class Deduplicator {
  private constructor(
    private readonly store: DedupStore,
    private readonly opts: DedupOptions,
    private readonly hashFile: HashFileFn,
  ) {}

  static async open(opts: DedupOptions, hasher: HashFileFn = hashFile): Promise<Deduplicator> {
    return new Deduplicator(DedupStore.open(opts.dbPath), opts, hasher);
  }

  /** Looks the job's primary file up; for multi-file images the hash covers the primary file
   * (for a descriptor: its text, which names the extents) and the size covers all files. */
  async check(primary: string, sizeBytes: number, signal?: AbortSignal): Promise<DedupCheck> {
    const filename = basename(primary);
    if (!this.opts.useHash) {
      const hit = this.store.findByNameSize(filename, sizeBytes);
      return { duplicateOf: hit && hit.status === 'success' ? hit : undefined, hashes: {} };
    }
    const algo = this.opts.hash;
    const digests = await this.hashFile(primary, [algo], { signal });
    const hex = digests[algo];
    const hit = hex ? this.store.findByHash(algo, hex) : undefined;
    return { duplicateOf: hit && hit.status === 'success' ? hit : undefined, hashes: hex ? { [algo]: hex } : {} };
  }

  record(r: DedupRecordInput): void {
    try {
      this.store.record(r);
    } catch (err) {
      this.opts.log.warn('dedup_record_failed', `Cannot record ${r.filename} in the dedup database: ${(err as Error).message}`);
    }
  }

  /** Removes records older than `days`; returns how many. */
  purge(days: number): number {
    return this.store.purgeOlderThan(days);
  }

  close(): void {
    this.store.close();
  }
}
