// The cluster's dedup records in PostgreSQL (table h2k.processed_files, pg-schema.ts migration 2):
// every host of a cluster sees what any host converted, so a file dropped twice is skipped
// wherever it lands. Same validation, ordering and answers as the SQLite store (store.ts); each
// record also names the host that wrote it.
import { hostname } from 'node:os';
import { connectCluster, type PgConnectOptions, type PgConnection } from '../daemon/queue/pg-connect.js';
import { H2kError } from '../util/errors.js';
import type { DedupBackend } from './backend.js';
import { SUCCESS_FIRST, hashKey, recordRow, type DedupHashAlgorithm, type DedupRecord, type DedupRecordInput } from './store.js';

const COLUMNS = `id::float8 AS id, filename, filepath, file_size::float8 AS file_size, md5_hash, processed_at, status, output_path, error, duration_seconds, xxh3`;

interface Row extends Omit<DedupRecord, 'processed_at'> {
  processed_at: Date;
}
const toRecord = (r: Row | undefined): DedupRecord | undefined => r && { ...r, processed_at: r.processed_at.toISOString() };

export class PgDedupStore implements DedupBackend {
  private constructor(
    private readonly db: PgConnection,
    readonly hostName: string,
  ) {}

  static async open(opts: PgConnectOptions & { hostName?: string }): Promise<PgDedupStore> {
    return new PgDedupStore(await connectCluster({ poolSize: 2, ...opts }), opts.hostName || hostname());
  }

  private async query<R extends object = Row>(text: string, values: unknown[] = []): Promise<{ rows: R[]; rowCount: number | null }> {
    try {
      return await this.db.pool.query<R & object>(text, values);
    } catch (err) {
      throw this.db.error(err);
    }
  }

  private async rows(text: string, values: unknown[]): Promise<Row[]> {
    return (await this.query(text, values)).rows;
  }

  async findByNameSize(filename: string, size: number): Promise<DedupRecord | undefined> {
    const [r] = await this.rows(`SELECT ${COLUMNS} FROM h2k.processed_files WHERE filename = $1 AND file_size = $2 ${SUCCESS_FIRST} LIMIT 1`, [filename, size]);
    return toRecord(r);
  }

  async findByHash(algo: DedupHashAlgorithm, hex: string): Promise<DedupRecord | undefined> {
    const key = hashKey(algo, hex);
    if (!key) return undefined;
    const [r] = await this.rows(`SELECT ${COLUMNS} FROM h2k.processed_files WHERE ${key.column} = $1 ${SUCCESS_FIRST} LIMIT 1`, [key.hex]);
    return toRecord(r);
  }

  async record(input: DedupRecordInput): Promise<DedupRecord> {
    const row = recordRow(input);
    const [r] = await this.rows(
      `INSERT INTO h2k.processed_files (filename, filepath, file_size, md5_hash, xxh3, processed_at, status, output_path, error, duration_seconds, host_name)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ${COLUMNS}`,
      [row.filename, row.filepath, row.file_size, row.md5_hash, row.xxh3, row.processed_at, row.status, row.output_path, row.error, row.duration_seconds, this.hostName],
    );
    return toRecord(r)!;
  }

  async purgeOlderThan(days: number): Promise<number> {
    if (!Number.isFinite(days) || days < 0) throw new H2kError(`retention days must be >= 0, got ${days}`, { code: 'E_INVALID_ARGUMENT' });
    const { rowCount } = await this.query(`DELETE FROM h2k.processed_files WHERE processed_at < now() - make_interval(secs => $1)`, [days * 86_400]);
    return rowCount ?? 0;
  }

  async count(): Promise<number> {
    const { rows } = await this.query<{ n: number }>(`SELECT count(*)::float8 AS n FROM h2k.processed_files`);
    return rows[0].n;
  }

  async close(): Promise<void> {
    await this.db.pool.end();
  }
}
