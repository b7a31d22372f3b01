// DedupStore on a real SQLite file, cross-checked with the sqlite3 command-line tool, plus
// `h2k dedup` and `h2k hash --dedup-db` end to end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DedupStore } from '../src/dedup/store.js';
import { dedupDbPath } from '../src/dedup/lookup.js';
import { runH2k } from './helpers/cli.js';
import { tempDir } from './helpers/fixtures.js';
import { toolDigest } from './helpers/hash-oracles.js';

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir('dedup');
});
afterAll(() => tmp.cleanup());

const sqlite = (db: string, sql: string) => execFileSync('sqlite3', [db, sql], { encoding: 'utf8' }).trim();

describe('DedupStore', () => {
  it('creates the schema in WAL mode with user_version and the indexes', () => {
    const db = dedupDbPath(join(tmp.dir, 'out'));
    DedupStore.open(db).close();
    expect(sqlite(db, 'PRAGMA journal_mode;')).toBe('wal');
    expect(sqlite(db, 'PRAGMA user_version;')).toBe('2');
    const cols = sqlite(db, "SELECT name FROM pragma_table_info('processed_files');").split('\n');
    // hyper2kvm's columns (its queries run unchanged), then h2k's.
    expect(cols).toEqual(['id', 'filename', 'filepath', 'file_size', 'md5_hash', 'processed_at', 'output_path', 'status', 'xxh3', 'error', 'duration_seconds']);
    const idx = sqlite(db, "SELECT group_concat(name || ':' || (SELECT group_concat(name) FROM pragma_index_info(il.name)), ' ') FROM pragma_index_list('processed_files') il;");
    expect(idx).toContain(':filename,file_size');
    expect(idx).toContain(':md5_hash');
    expect(idx).toContain(':xxh3');
    // The lookups use the indexes.
    expect(sqlite(db, "EXPLAIN QUERY PLAN SELECT * FROM processed_files WHERE xxh3 = 'ab';")).toMatch(/USING INDEX/);
    expect(sqlite(db, "EXPLAIN QUERY PLAN SELECT * FROM processed_files WHERE filename = 'a' AND file_size = 1;")).toMatch(/USING INDEX/);
  });

  it('records, finds by name+size and by hash (successful record first), lists, forgets, purges', () => {
    const db = join(tmp.dir, 'store.db');
    const s = DedupStore.open(db);
    try {
      const old = s.record({ filename: 'a.vmdk', file_size: 100, md5: 'AA11', xxh3: 'bb22', status: 'success', output_path: '/o/a.qcow2', processed_at: '2020-01-01T00:00:00Z' });
      expect(old.id).toBeGreaterThan(0);
      expect(old.md5_hash).toBe('aa11'); // normalised to lowercase hex
      const failed = s.record({ filename: 'a.vmdk', file_size: 100, status: 'failed', error: '[E_IO] disk gone' });
      expect(s.findByNameSize('a.vmdk', 100)?.id).toBe(old.id); // success beats a newer failure
      expect(s.findByNameSize('a.vmdk', 101)).toBeUndefined();
      expect(s.findByHash('xxh3', 'BB22')?.output_path).toBe('/o/a.qcow2');
      expect(s.findByHash('md5', 'aa11')?.processed_at).toBe('2020-01-01T00:00:00.000Z');
      expect(s.findByHash('md5', 'ffff')).toBeUndefined();
      const b = s.record({ filename: 'b.vmdk', file_size: 5, xxh3: 'cc', status: 'success', duration_seconds: 1.5 });
      expect(s.list().map((r) => r.id)).toEqual([b.id, failed.id, old.id]);
      expect(s.list({ status: 'failed' }).map((r) => r.id)).toEqual([failed.id]);
      expect(s.list({ limit: 1 })).toHaveLength(1);
      // Another connection (the sqlite3 tool) sees the committed rows.
      expect(sqlite(db, 'SELECT count(*) FROM processed_files;')).toBe('3');
      expect(s.purgeOlderThan(30)).toBe(1); // the 2020 record
      expect(s.forget(String(b.id))).toBe(1);
      expect(s.forget('a.vmdk')).toBe(1);
      expect(s.list()).toEqual([]);
      expect(() => s.record({ filename: 'x', file_size: -1, status: 'success' })).toThrow(expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }));
      expect(() => s.record({ filename: 'x', file_size: 1, md5: 'not hex', status: 'success' })).toThrow(expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }));
    } finally {
      s.close();
    }
  });

  it('refuses a missing database when asked not to create, and a newer schema', () => {
    expect(() => DedupStore.open(join(tmp.dir, 'none.db'), { readonly: true })).toThrow(expect.objectContaining({ code: 'E_NOT_FOUND' }));
    const db = join(tmp.dir, 'future.db');
    sqlite(db, 'PRAGMA user_version = 99;');
    expect(() => DedupStore.open(db)).toThrow(expect.objectContaining({ code: 'E_DB_VERSION' }));
    sqlite(join(tmp.dir, 'other.db'), 'CREATE TABLE processed_files (path TEXT);');
    expect(() => DedupStore.open(join(tmp.dir, 'other.db'))).toThrow(expect.objectContaining({ code: 'E_DB' }));
    writeFileSync(join(tmp.dir, 'garbage.db'), 'this is not sqlite'.repeat(100));
    expect(() => DedupStore.open(join(tmp.dir, 'garbage.db'))).toThrow(expect.objectContaining({ code: 'E_DB' }));
  });

  it('migrates an h2k version 1 database in place after a backup, keeping every row and its history', () => {
    const db = join(tmp.dir, 'v1.db');
    // The version 1 table as h2k 0.1 created it.
    sqlite(db, `CREATE TABLE processed_files (id INTEGER PRIMARY KEY AUTOINCREMENT, filename TEXT NOT NULL, file_size INTEGER NOT NULL,
      md5 TEXT, xxh3 TEXT, processed_at TEXT NOT NULL, status TEXT NOT NULL, output_path TEXT, error TEXT, duration_seconds REAL);
      CREATE INDEX idx_processed_files_md5 ON processed_files (md5);
      INSERT INTO processed_files (filename, file_size, md5, processed_at, status) VALUES ('a.vmdk', 100, 'aa11', '2026-01-01T00:00:00.000Z', 'success');
      INSERT INTO processed_files (filename, file_size, processed_at, status, error) VALUES ('a.vmdk', 100, '2026-01-02T00:00:00.000Z', 'failed', 'boom');
      PRAGMA user_version = 1;`);
    // Read-only, it is looked at through version 2's columns and left as it is.
    const ro = DedupStore.open(db, { readonly: true });
    expect(ro.findByHash('md5', 'aa11')).toMatchObject({ filename: 'a.vmdk', md5_hash: 'aa11', filepath: '' });
    ro.close();
    expect(sqlite(db, 'PRAGMA user_version;')).toBe('1');
    const s = DedupStore.open(db);
    try {
      expect(s.foundLayout).toBe('h2k-v1');
      expect(s.backupPath).toMatch(/v1\.db\.bak-\d{8}T\d{6}Z$/);
      expect(s.findByHash('md5', 'aa11')?.filename).toBe('a.vmdk');
      expect(s.list()).toHaveLength(2);
      s.record({ filename: 'a.vmdk', file_size: 100, status: 'success' }); // no UNIQUE: history grows
      expect(s.list()).toHaveLength(3);
    } finally {
      s.close();
    }
    expect(sqlite(db, 'PRAGMA user_version;')).toBe('2');
    expect(sqlite(db, "SELECT group_concat(name) FROM pragma_index_info('idx_processed_files_md5');")).toBe('md5_hash');
    expect(sqlite(s.backupPath!, 'SELECT count(*), max(md5) FROM processed_files; PRAGMA user_version;')).toBe('2|aa11\n1');
    // A second open finds nothing to do.
    const again = DedupStore.open(db);
    expect(again.backupPath).toBeUndefined();
    again.close();
  });
});

describe('h2k dedup / h2k hash --dedup-db', () => {
  it('says which files were processed, by hash or by name+size, and forgets them', async () => {
    const out = join(tmp.dir, 'daemon-out');
    const db = dedupDbPath(out);
    const seen = join(tmp.dir, 'seen.vmdk');
    const renamed = join(tmp.dir, 'copy-of-seen.vmdk');
    const fresh = join(tmp.dir, 'fresh.vmdk');
    writeFileSync(seen, 'disk bytes 1');
    writeFileSync(renamed, 'disk bytes 1');
    writeFileSync(fresh, 'disk bytes 2');
    const s = DedupStore.open(db);
    const rec = s.record({ filename: 'seen.vmdk', file_size: 12, xxh3: toolDigest('xxh3', seen), status: 'success', output_path: '/out/seen.qcow2' });
    s.record({ filename: 'fresh.vmdk', file_size: 999, status: 'failed' }); // same name, other size: no match
    s.close();

    const r = await runH2k(['dedup', 'check', '--output-dir', out, seen, renamed, fresh, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const res = (JSON.parse(r.stdout) as { results: { file: string; processed: boolean; matchedBy?: string; record?: { id: number } }[] }).results;
    expect(res.map((x) => [x.processed, x.matchedBy])).toEqual([[true, 'xxh3'], [true, 'xxh3'], [false, undefined]]);
    expect(res[0].record?.id).toBe(rec.id);

    const byName = await runH2k(['dedup', 'check', '--db', db, '--hash', 'none', seen, renamed]);
    expect(byName.stdout).toMatch(/seen\.vmdk: processed .* \(success\) -> \/out\/seen\.qcow2 \[matched by name\+size/);
    expect(byName.stdout).toMatch(/copy-of-seen\.vmdk: not processed/);

    const h = await runH2k(['hash', '--dedup-db', db, seen, fresh]);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/seen\.vmdk: processed .*matched by xxh3/);
    expect(h.stdout).toMatch(/fresh\.vmdk: not processed/);

    const list = await runH2k(['dedup', 'list', '--db', db, '--json']);
    expect((JSON.parse(list.stdout) as { records: unknown[] }).records).toHaveLength(2);
    const forget = await runH2k(['dedup', 'forget', '--db', db, String(rec.id)]);
    expect(forget.code).toBe(0);
    const again = await runH2k(['dedup', 'check', '--db', db, seen]);
    expect(again.stdout).toMatch(/not processed/);

    const missing = await runH2k(['dedup', 'list', '--db', join(tmp.dir, 'nope.db')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('E_NOT_FOUND');
    expect((await runH2k(['dedup', 'list'])).code).toBe(2);
  });
});
