// Duplicate detection against the SQLite store shared with `h2k hash` (src/dedup/store.ts):
// filename + size by default, or a hash (md5, or the much faster xxh3) of all the image's files
// as one stream (src/dedup/image-key.ts), computed in a pool worker so the event loop never
// reads the image. Only a successful record makes a file a duplicate.
import { basename } from 'node:path';
import { DedupStore, type DedupRecord, type DedupRecordInput } from '../dedup/store.js';
import { sqliteBackend, type DedupBackend } from '../dedup/backend.js';
import { imageKeyDigests } from '../dedup/image-key.js';
import type { Logger } from '../service/logger.js';

export type DedupHash = 'md5' | 'xxh3';

type HashFileFn = (
  files: readonly string[],
  algos: DedupHash[],
  opts?: { signal?: AbortSignal },
) => Promise<Partial<Record<string, string>>>;

export interface DedupOptions {
  dbPath: string;
  /** the cluster's store (PostgreSQL, with queue_url) instead of the SQLite file at dbPath */
  backend?: DedupBackend;
  useHash: boolean;
  hash: DedupHash;
  log: Logger;
}

export interface DedupCheck {
  duplicateOf?: DedupRecord;
  hashes: Partial<Record<DedupHash, string>>;
}

const succeeded = (r: DedupRecord | undefined) => (r && r.status === 'success' ? r : undefined);
const digestOf = (r: DedupRecord, algo: DedupHash) => (algo === 'md5' ? r.md5_hash : r.xxh3);

export class Deduplicator {
  private constructor(
    private readonly store: DedupBackend,
    private readonly opts: DedupOptions,
    private readonly hashFile: HashFileFn,
  ) {}

  static async open(opts: DedupOptions, hasher: HashFileFn = (files, algos, o) => imageKeyDigests(files, algos, o?.signal)): Promise<Deduplicator> {
    if (opts.backend) return new Deduplicator(opts.backend, opts, hasher);
    const store = DedupStore.open(opts.dbPath);
    if (store.backupPath)
      opts.log.info('dedup_migrated', `Migrated the ${store.foundLayout === 'hyper2kvm' ? 'hyper2kvm' : 'h2k v1'} dedup database ${opts.dbPath} (${store.count()} records kept); copy before migration: ${store.backupPath}`, {
        file: opts.dbPath,
        backup: store.backupPath,
        from: store.foundLayout,
      });
    return new Deduplicator(sqliteBackend(store), opts, hasher);
  }

  /** Looks a job up by its files (the primary first, then a descriptor's extents): by name of
   * the primary + total size, or by the hash of all its files as one stream (src/dedup/image-key.ts). */
  async check(files: readonly string[], sizeBytes: number, signal?: AbortSignal): Promise<DedupCheck> {
    const byName = succeeded(await this.store.findByNameSize(basename(files[0]), sizeBytes));
    if (!this.opts.useHash) return { duplicateOf: byName, hashes: {} };
    const algo = this.opts.hash;
    const digests = await this.hashFile(files, [algo], { signal });
    const hex = digests[algo];
    const byHash = hex ? succeeded(await this.store.findByHash(algo, hex)) : undefined;
    // A name + size record without this digest (hyper2kvm without MD5, h2k without hashing)
    // still counts, as it would for hyper2kvm; one whose digest differs shows other content.
    const duplicateOf = byHash ?? (byName && !digestOf(byName, algo) ? byName : undefined);
    return { duplicateOf, hashes: hex ? { [algo]: hex } : {} };
  }

  async record(r: DedupRecordInput): Promise<void> {
    try {
      await this.store.record(r);
    } catch (err) {
      this.opts.log.warn('dedup_record_failed', `Cannot record ${r.filename} in the dedup database: ${(err as Error).message}`);
    }
  }

  /** Removes records older than `days`; returns how many. */
  purge(days: number): Promise<number> {
    return this.store.purgeOlderThan(days);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
