// DedupStore: the record of processed files, in SQLite (better-sqlite3, WAL mode) at
// {output_dir}/.daemon/deduplication.db, the table hyper2kvm's daemon keeps there (see
// schema.ts). The daemon records every file it finishes; `h2k hash --dedup-db` and `h2k dedup`
// look files up. Lookups prefer the newest successful record, then the newest of any status.
import Database from 'better-sqlite3';
import { mkdirSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { H2kError } from '../util/errors.js';
import { migrate, readonlyView, type SchemaLayout } from './schema.js';

export type DedupHashAlgorithm = 'md5' | 'xxh3';

export interface DedupRecordInput {
  filename: string;
  /** absolute path of the source when it was processed (hyper2kvm's filepath) */
  filepath?: string;
  file_size: number;
  md5?: string | null;
  xxh3?: string | null;
  status: string;
  output_path?: string | null;
  error?: string | null;
  duration_seconds?: number | null;
  /** ISO 8601 UTC; defaults to now. */
  processed_at?: string;
}

export interface DedupRecord {
  id: number;
  filename: string;
  filepath: string;
  file_size: number;
  md5_hash: string | null;
  xxh3: string | null;
  processed_at: string;
  status: string;
  output_path: string | null;
  error: string | null;
  duration_seconds: number | null;
}

export interface DedupOpenOptions {
  /** Open without writing (fails if the database does not exist). */
  readonly?: boolean;
  /** Create the database (and its directory) if missing; default true unless readonly. */
  create?: boolean;
}

export const SUCCESS_FIRST = `ORDER BY (status = 'success') DESC, processed_at DESC, id DESC`;
const HEX = /^[0-9a-f]+$/;

function dbError(err: unknown, dbPath: string): H2kError {
  const e = err as { code?: string; message?: string; hint?: string };
  const message = e?.message ?? String(err);
  if (e?.code === 'E_DB_VERSION') return new H2kError(message, { code: 'E_DB_VERSION', file: dbPath, hint: e.hint });
  const code = e?.code === 'SQLITE_CANTOPEN' ? 'E_NOT_FOUND' : e?.code === 'SQLITE_BUSY' ? 'E_IO' : 'E_DB';
  return new H2kError(`dedup database ${dbPath}: ${message}`, {
    code,
    file: dbPath,
    hint: code === 'E_NOT_FOUND' ? 'check the path (it is {output_dir}/.daemon/deduplication.db)' : 'check that the file is an h2k or hyper2kvm deduplication database and is not corrupt',
    cause: err,
  });
}

function normalizeHex(hex: string | null | undefined, what: string): string | null {
  if (hex === undefined || hex === null || hex === '') return null;
  const h = hex.trim().toLowerCase();
  if (!HEX.test(h)) throw new H2kError(`${what} '${hex}' is not a hex digest`, { code: 'E_INVALID_ARGUMENT' });
  return h;
}

/** The column and normalised digest a hash lookup uses (both stores); undefined for an empty digest. */
export function hashKey(algo: DedupHashAlgorithm, hex: string): { column: 'md5_hash' | 'xxh3'; hex: string } | undefined {
  const column = algo === 'md5' ? 'md5_hash' : algo === 'xxh3' ? 'xxh3' : undefined;
  if (!column) throw new H2kError(`the dedup database has no ${String(algo)} column`, { code: 'E_INVALID_ARGUMENT', hint: 'use md5 or xxh3' });
  const h = normalizeHex(hex, algo);
  return h ? { column, hex: h } : undefined;
}

/** A record as stored: validated, digests in lower-case hex, processed_at in UTC (both stores). */
export function recordRow(input: DedupRecordInput): Omit<DedupRecord, 'id'> {
  if (!input.filename) throw new H2kError('dedup record needs a filename', { code: 'E_INVALID_ARGUMENT' });
  if (!Number.isSafeInteger(input.file_size) || input.file_size < 0)
    throw new H2kError(`dedup record file_size must be a non-negative integer, got ${input.file_size}`, { code: 'E_INVALID_ARGUMENT' });
  if (!input.status) throw new H2kError('dedup record needs a status', { code: 'E_INVALID_ARGUMENT' });
  const processedAt = input.processed_at ?? new Date().toISOString();
  if (Number.isNaN(Date.parse(processedAt)))
    throw new H2kError(`processed_at '${processedAt}' is not an ISO date`, { code: 'E_INVALID_ARGUMENT' });
  return {
    filename: input.filename,
    filepath: input.filepath ?? '',
    file_size: input.file_size,
    md5_hash: normalizeHex(input.md5, 'md5'),
    xxh3: normalizeHex(input.xxh3, 'xxh3'),
    processed_at: new Date(processedAt).toISOString(),
    status: input.status,
    output_path: input.output_path ?? null,
    error: input.error ?? null,
    duration_seconds: input.duration_seconds ?? null,
  };
}

export class DedupStore {
  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
    /** what the file held when opened (a migration happened unless 'current' or 'empty') */
    readonly foundLayout: SchemaLayout,
    /** the copy taken before a migration */
    readonly backupPath?: string,
  ) {}

  static open(dbPath: string, options: DedupOpenOptions = {}): DedupStore {
    const readonly = options.readonly ?? false;
    const create = options.create ?? !readonly;
    if (!existsSync(dbPath) && !create)
      throw new H2kError(`no dedup database at ${dbPath}`, {
        code: 'E_NOT_FOUND',
        file: dbPath,
        hint: 'the daemon creates it at {output_dir}/.daemon/deduplication.db on its first run',
      });
    let db: Database.Database | undefined;
    try {
      if (!readonly) mkdirSync(dirname(dbPath), { recursive: true });
      db = new Database(dbPath, { readonly, fileMustExist: !create });
      db.pragma('busy_timeout = 5000');
      if (readonly) return new DedupStore(db, dbPath, readonlyView(db));
      // Migrate (and back up) before WAL: the copy then holds the file exactly as its writer left it.
      const { layout, backup } = migrate(db, dbPath);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      return new DedupStore(db, dbPath, layout, backup);
    } catch (err) {
      db?.close();
      throw dbError(err, dbPath);
    }
  }

  /** Newest record for this base name and size (a successful one if any). */
  findByNameSize(filename: string, size: number): DedupRecord | undefined {
    return this.run(() =>
      this.db
        .prepare(`SELECT * FROM processed_files WHERE filename = ? AND file_size = ? ${SUCCESS_FIRST} LIMIT 1`)
        .get(filename, size) as DedupRecord | undefined,
    );
  }

  /** Newest record with this content hash (a successful one if any). */
  findByHash(algo: DedupHashAlgorithm, hex: string): DedupRecord | undefined {
    const key = hashKey(algo, hex);
    if (!key) return undefined;
    return this.run(() =>
      this.db.prepare(`SELECT * FROM processed_files WHERE ${key.column} = ? ${SUCCESS_FIRST} LIMIT 1`).get(key.hex) as DedupRecord | undefined,
    );
  }

  /** Adds a record and returns it with its id. */
  record(input: DedupRecordInput): DedupRecord {
    const row = recordRow(input);
    // OR REPLACE: a hyper2kvm table keeps one row per (filename, file_size), as its daemon does;
    // h2k's own table has no such constraint and keeps every record.
    return this.run(() => {
      const info = this.db
        .prepare(
          `INSERT OR REPLACE INTO processed_files (filename, filepath, file_size, md5_hash, xxh3, processed_at, status, output_path, error, duration_seconds)
           VALUES (@filename, @filepath, @file_size, @md5_hash, @xxh3, @processed_at, @status, @output_path, @error, @duration_seconds)`,
        )
        .run(row);
      return { id: Number(info.lastInsertRowid), ...row };
    });
  }

  /** Newest first. */
  list(options: { limit?: number; status?: string } = {}): DedupRecord[] {
    const limit = options.limit ?? -1;
    return this.run(() =>
      options.status !== undefined
        ? (this.db
            .prepare(`SELECT * FROM processed_files WHERE status = ? ORDER BY processed_at DESC, id DESC LIMIT ?`)
            .all(options.status, limit) as DedupRecord[])
        : (this.db.prepare(`SELECT * FROM processed_files ORDER BY processed_at DESC, id DESC LIMIT ?`).all(limit) as DedupRecord[]),
    );
  }

  /** Deletes the record with this id (a number or all-digit string) or every record of this filename; returns how many. */
  forget(filenameOrId: string | number): number {
    return this.run(() => {
      if (typeof filenameOrId === 'number' || /^\d+$/.test(filenameOrId)) {
        const byId = this.db.prepare('DELETE FROM processed_files WHERE id = ?').run(Number(filenameOrId)).changes;
        if (byId > 0 || typeof filenameOrId === 'number') return byId;
      }
      return this.db.prepare('DELETE FROM processed_files WHERE filename = ?').run(String(filenameOrId)).changes;
    });
  }

  /** Deletes records processed more than `days` days ago; returns how many. */
  purgeOlderThan(days: number): number {
    if (!Number.isFinite(days) || days < 0) throw new H2kError(`retention days must be >= 0, got ${days}`, { code: 'E_INVALID_ARGUMENT' });
    const cutoff = new Date(Date.now() - days * 86_400_000).toISOString();
    return this.run(() => this.db.prepare('DELETE FROM processed_files WHERE processed_at < ?').run(cutoff).changes);
  }

  count(): number {
    return this.run(() => (this.db.prepare('SELECT count(*) AS n FROM processed_files').get() as { n: number }).n);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof H2kError) throw err;
      throw dbError(err, this.path);
    }
  }
}
