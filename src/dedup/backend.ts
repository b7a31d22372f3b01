// What the daemon's Deduplicator needs from a dedup store, asynchronous so that one interface
// fits the single-host SQLite file (store.ts, wrapped by sqliteBackend) and the cluster's
// PostgreSQL table (pg-store.ts). Both return the same records for the same calls
// (test/pg-dedup-store.test.ts runs one script against both).
import type { DedupHashAlgorithm, DedupRecord, DedupRecordInput, DedupStore } from './store.js';

export interface DedupBackend {
  /** Newest record for this base name and size (a successful one if any). */
  findByNameSize(filename: string, size: number): Promise<DedupRecord | undefined>;
  /** Newest record with this content hash (a successful one if any). */
  findByHash(algo: DedupHashAlgorithm, hex: string): Promise<DedupRecord | undefined>;
  /** Adds a record and returns it with its id. */
  record(input: DedupRecordInput): Promise<DedupRecord>;
  /** Deletes records processed more than `days` days ago; returns how many. */
  purgeOlderThan(days: number): Promise<number>;
  count(): Promise<number>;
  close(): Promise<void>;
}

export function sqliteBackend(store: DedupStore): DedupBackend {
  return {
    findByNameSize: async (filename, size) => store.findByNameSize(filename, size),
    findByHash: async (algo, hex) => store.findByHash(algo, hex),
    record: async (input) => store.record(input),
    purgeOlderThan: async (days) => store.purgeOlderThan(days),
    count: async () => store.count(),
    close: async () => store.close(),
  };
}
