// The deduplication database schema, shared by the daemon (which records every processed
// file) and `h2k hash --dedup-db` / `h2k dedup` (which look files up). Versioned through
// SQLite's user_version. Version 2 is hyper2kvm's processed_files table (same column names,
// so its documented queries and its own daemon keep working) plus h2k's columns.
//
// Three starting points reach version 2, the last two after a backup copy and in one
// transaction, keeping every row:
//   - no table yet: created at version 2;
//   - hyper2kvm's table (user_version 0): h2k's columns are added, its UNIQUE(filename,
//     file_size) and indexes stay;
//   - h2k's version 1: md5 is renamed md5_hash and filepath added.
import type { Database } from 'better-sqlite3';

export const SCHEMA_VERSION = 2;

/** Columns hyper2kvm's daemon reads and writes. */
export const HYPER2KVM_COLUMNS = ['id', 'filename', 'filepath', 'file_size', 'md5_hash', 'processed_at', 'output_path', 'status'] as const;

/** Columns h2k adds to them. */
const H2K_COLUMNS: readonly [string, string][] = [
  ['xxh3', 'TEXT'], // lowercase hex (XXH3-64, canonical order)
  ['error', 'TEXT'],
  ['duration_seconds', 'REAL'],
];

// Fresh databases keep a history (no UNIQUE on filename + size): a failure and a later success
// of the same file are both kept. hyper2kvm's own daemon can still write into this table.
const CREATE_V2 = `
  CREATE TABLE processed_files (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    filename         TEXT    NOT NULL,            -- base name of the source file
    filepath         TEXT    NOT NULL DEFAULT '', -- absolute path when it was processed
    file_size        INTEGER NOT NULL,            -- bytes (all files of a multi-file image)
    md5_hash         TEXT,                        -- lowercase hex, NULL when not computed
    processed_at     TEXT    NOT NULL,            -- ISO 8601 (h2k: UTC with Z; hyper2kvm: local time)
    output_path      TEXT,
    status           TEXT    NOT NULL,            -- success | failed
    xxh3             TEXT,
    error            TEXT,
    duration_seconds REAL
  );
  CREATE INDEX idx_processed_files_name_size ON processed_files (filename, file_size);`;

const COMMON_INDEXES = `
  CREATE INDEX IF NOT EXISTS idx_processed_files_md5 ON processed_files (md5_hash);
  CREATE INDEX IF NOT EXISTS idx_processed_files_xxh3 ON processed_files (xxh3);
  CREATE INDEX IF NOT EXISTS idx_processed_files_processed_at ON processed_files (processed_at);`;

export type SchemaLayout = 'empty' | 'hyper2kvm' | 'h2k-v1' | 'current';

function columnsOf(db: Database): Set<string> {
  return new Set((db.prepare(`SELECT name FROM pragma_table_info('processed_files')`).all() as { name: string }[]).map((r) => r.name));
}

function dbError(message: string, code: string, hint?: string): Error {
  return Object.assign(new Error(message), { code, hint });
}

/** What is in the file now. Throws for a table this h2k does not know. */
export function detectLayout(db: Database): SchemaLayout {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION)
    throw dbError(`dedup database schema version ${version} is newer than this h2k understands (${SCHEMA_VERSION})`, 'E_DB_VERSION', 'upgrade h2k, or point it at another database');
  const cols = columnsOf(db);
  if (version === SCHEMA_VERSION) return 'current';
  if (version === 1) return 'h2k-v1';
  if (cols.size === 0) return 'empty';
  if (HYPER2KVM_COLUMNS.every((c) => cols.has(c))) return 'hyper2kvm';
  throw dbError('processed_files is neither hyper2kvm\'s nor h2k\'s deduplication table', 'E_DB');
}

function backupName(dbPath: string, now = new Date()): string {
  return `${dbPath}.bak-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
}

/**
 * Brings the database up to SCHEMA_VERSION. Before changing an existing table it writes a
 * consistent copy (VACUUM INTO) beside it and returns that path.
 */
export function migrate(db: Database, dbPath: string): { layout: SchemaLayout; backup?: string } {
  const layout = detectLayout(db);
  if (layout === 'current') return { layout };
  let backup: string | undefined;
  if (layout !== 'empty') {
    backup = backupName(dbPath);
    db.prepare('VACUUM INTO ?').run(backup);
  }
  db.transaction(() => {
    if (layout === 'empty') db.exec(CREATE_V2);
    if (layout === 'hyper2kvm') {
      const cols = columnsOf(db);
      for (const [name, type] of H2K_COLUMNS) if (!cols.has(name)) db.exec(`ALTER TABLE processed_files ADD COLUMN ${name} ${type}`);
    }
    if (layout === 'h2k-v1') {
      db.exec(`ALTER TABLE processed_files RENAME COLUMN md5 TO md5_hash`);
      db.exec(`ALTER TABLE processed_files ADD COLUMN filepath TEXT NOT NULL DEFAULT ''`);
    }
    db.exec(COMMON_INDEXES);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
  return { layout, backup };
}

/**
 * A read-only connection cannot migrate: a TEMP view named processed_files (temp objects shadow
 * main ones) shows an older table with version 2's columns, so lookups work on it unchanged.
 */
export function readonlyView(db: Database): SchemaLayout {
  const layout = detectLayout(db);
  if (layout === 'current') return layout;
  if (layout === 'empty') throw dbError('not an h2k dedup database (no schema)', 'E_DB');
  const cols = columnsOf(db);
  const pick = (name: string, fallback: string) => (cols.has(name) ? `"${name}"` : `${fallback} AS "${name}"`);
  const select = [
    'id', 'filename', pick('filepath', "''"), 'file_size',
    layout === 'h2k-v1' ? 'md5 AS md5_hash' : 'md5_hash',
    'processed_at', 'output_path', 'status',
    ...H2K_COLUMNS.map(([name]) => pick(name, 'NULL')),
  ].join(', ');
  db.exec(`CREATE TEMP VIEW processed_files AS SELECT ${select} FROM main.processed_files`);
  return layout;
}
