// The cluster's dedup store on a real PostgreSQL 15 (test/helpers/postgres.mjs) against the
// single-host SQLite store (whose own tests cross-check it with sqlite3): one script of records
// and lookups through the DedupBackend interface must give the same answers from both. Then what
// only a cluster has: a record written by one host is found by another, with the writer's name.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { sqliteBackend, type DedupBackend } from '../src/dedup/backend.js';
import { PgDedupStore } from '../src/dedup/pg-store.js';
import { DedupStore } from '../src/dedup/store.js';
import { startPostgres, type PgServer } from './helpers/postgres.mjs';

let server: PgServer;
let tmp: string;
beforeAll(async () => {
  server = await startPostgres();
  tmp = mkdtempSync(join(tmpdir(), 'h2k-dedup-'));
});
afterAll(async () => {
  await server?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

/** Records and lookups; every answer, ids dropped (each store numbers its own rows). */
async function script(s: DedupBackend): Promise<unknown[]> {
  const out: unknown[] = [];
  const seen = (r: { id: number } | undefined) => out.push(r && { ...r, id: undefined });
  const old = await s.record({ filename: 'a.vmdk', filepath: '/w/a.vmdk', file_size: 100, md5: 'AA11', xxh3: 'bb22', status: 'success', output_path: '/o/a.qcow2', processed_at: '2020-01-01T00:00:00Z' });
  seen(old);
  seen(await s.record({ filename: 'a.vmdk', file_size: 100, status: 'failed', error: '[E_IO] disk gone', processed_at: '2026-01-01T10:00:00.123+02:00' }));
  seen(await s.findByNameSize('a.vmdk', 100)); // the success beats the newer failure
  seen(await s.findByNameSize('a.vmdk', 101));
  seen(await s.findByHash('xxh3', 'BB22'));
  seen(await s.findByHash('md5', ' aa11 '));
  seen(await s.findByHash('md5', 'ffff'));
  seen(await s.findByHash('md5', ''));
  await s.record({ filename: 'b.vmdk', file_size: 5_000_000_000_000, xxh3: 'cc', status: 'failed', duration_seconds: 1.5, processed_at: '2026-06-01T00:00:00Z' });
  await s.record({ filename: 'b.vmdk', file_size: 5_000_000_000_000, xxh3: 'cc', status: 'failed', duration_seconds: 2.25, processed_at: '2026-06-02T00:00:00Z' });
  seen(await s.findByHash('xxh3', 'cc')); // no success: the newest failure
  for (const bad of [
    { filename: 'x', file_size: -1, status: 'success' },
    { filename: 'x', file_size: 1, md5: 'not hex', status: 'success' },
    { filename: '', file_size: 1, status: 'success' },
    { filename: 'x', file_size: 1, status: 'success', processed_at: 'yesterday' },
  ])
    out.push(await s.record(bad).then(() => 'accepted', (e: { code?: string }) => e.code));
  out.push(await s.findByHash('sha1' as 'md5', 'aa').then(() => 'accepted', (e: { code?: string }) => e.code));
  out.push(await s.count());
  out.push(await s.purgeOlderThan(365 * 3)); // the 2020 record
  out.push(await s.count());
  out.push(await s.purgeOlderThan(-1).then(() => 'accepted', (e: { code?: string }) => e.code));
  return out;
}

test('the PostgreSQL store answers the SQLite store\'s script identically', async () => {
  const lite = sqliteBackend(DedupStore.open(join(tmp, 'dedup.db')));
  const cluster = await PgDedupStore.open({ url: await server.createDatabase('same'), hostName: 'h1' });
  try {
    const expected = await script(lite);
    expect(expected).toContainEqual(expect.objectContaining({ filename: 'a.vmdk', md5_hash: 'aa11', processed_at: '2020-01-01T00:00:00.000Z' }));
    expect(await script(cluster)).toEqual(expected);
  } finally {
    await lite.close();
    await cluster.close();
  }
});

test('a record written by one host is found by every other, with the writer named', async () => {
  const url = await server.createDatabase('hosts');
  const [a, b] = await Promise.all([PgDedupStore.open({ url, hostName: 'host-a' }), PgDedupStore.open({ url, hostName: 'host-b' })]);
  try {
    const rec = await a.record({ filename: 'web.vmdk', file_size: 42, xxh3: 'abc123', status: 'success', output_path: '/out/web.qcow2' });
    expect(await b.findByHash('xxh3', 'ABC123')).toEqual(rec);
    expect(await b.findByNameSize('web.vmdk', 42)).toEqual(rec);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const { rows } = await c.query('SELECT host_name, filename FROM h2k.processed_files');
    await c.end();
    expect(rows).toEqual([{ host_name: 'host-a', filename: 'web.vmdk' }]);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
