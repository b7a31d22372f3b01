// The deduplication database schema, shared by the daemon (which records every processed
// file) and `h2k hash --dedup-db` / `h2k dedup` (which look files up). Versioned through
// SQLite's user_version; each migration takes the schema from version i to i+1.
import type { Database } from 'better-sqlite3';

export const SCHEMA_VERSION = 1;

const MIGRATIONS: readonly string[] = [
  // 0 -> 1
  `CREATE TABLE processed_files (
     id               INTEGER PRIMARY KEY AUTOINCREMENT,
     filename         TEXT    NOT NULL,            -- base name of the source file
     file_size        INTEGER NOT NULL,            -- bytes (all files of a multi-file image)
     md5              TEXT,                        -- lowercase hex, NULL when not computed
     xxh3             TEXT,                        -- lowercase hex (XXH3-64, canonical order)
     processed_at     TEXT    NOT NULL,            -- ISO 8601 UTC, e.g. 2025-01-31T12:00:00.000Z
     status           TEXT    NOT NULL,            -- success | failed | skipped | ...
     output_path      TEXT,
     error            TEXT,
     duration_seconds REAL
   );
   CREATE INDEX idx_processed_files_name_size ON processed_files (filename, file_size);
   CREATE INDEX idx_processed_files_md5 ON processed_files (md5);
   CREATE INDEX idx_processed_files_xxh3 ON processed_files (xxh3);
   CREATE INDEX idx_processed_files_processed_at ON processed_files (processed_at);`,
];

/** Brings the database up to SCHEMA_VERSION; refuses a database written by a newer h2k. */
export function migrate(db: Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw Object.assign(new Error(`dedup database schema version ${current} is newer than this h2k understands (${SCHEMA_VERSION})`), {
      code: 'E_DB_VERSION',
      hint: 'upgrade h2k, or point it at another database',
    });
  }
  for (let v = current; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
