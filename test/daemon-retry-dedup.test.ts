// The real daemon: transient failures (job_timeout -> E_TIMEOUT) retried with exponential
// backoff then filed under .errors/; duplicates skipped by name+size and by content hash, which
// for a descriptor + extent image covers every file (a changed extent is not a duplicate).
import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { makeSeededRaw, qemuImg } from './helpers/fixtures.js';
import { runCommand, runH2k } from './helpers/cli.js';
import { daemonTestScope } from './helpers/daemon-harness.js';
import { localDate } from '../src/util/local-date.js';

const { fx, start: startTracked } = daemonTestScope('daemon-retry-fx');

describe('retry and dedup (real daemon)', () => {
  it('retries a timed-out conversion after 0.3 s then 0.6 s, then files it under .errors/', async () => {
    const raw = makeSeededRaw(join(fx.dir, 'slow.raw'), 32, 9);
    // Every attempt is cancelled after 1 ms: a transient E_TIMEOUT each time.
    const h = await startTracked({
      config: { job_timeout: 0.001, compression: 'zlib', threads: 1, retry_policy: { max_retries: 2, retry_delay: 0.3, backoff_multiplier: 2 } },
    });
    copyFileSync(raw, join(h.watchDir, 'slow.img'));
    await h.waitForEvent('job_failed', undefined, 60_000);
    const started = h.events.filter((e) => e.event === 'job_started').map((e) => Date.parse(e.time));
    const retries = h.events.filter((e) => e.event === 'job_retry');
    expect(started).toHaveLength(3);
    expect(retries.map((e) => e.delay_seconds)).toEqual([0.3, 0.6]);
    expect(retries.map((e) => e.code)).toEqual(['E_TIMEOUT', 'E_TIMEOUT']);
    const retryAt = retries.map((e) => Date.parse(e.time));
    expect(started[1] - retryAt[0]).toBeGreaterThanOrEqual(300 - 5);
    expect(started[2] - retryAt[1]).toBeGreaterThanOrEqual(600 - 5);
    expect(started[1] - retryAt[0]).toBeLessThan(3000);
    expect(started[2] - retryAt[1]).toBeLessThan(3300);
    const ctx = JSON.parse(readFileSync(join(h.watchDir, '.errors', 'slow.img.error.json'), 'utf8'));
    expect(ctx).toMatchObject({ code: 'E_TIMEOUT', phase: 'conversion', retry_count: 2 });
    expect(ctx.suggestion).toMatch(/network|latency|retry/i);
    const stats = await h.until('stats.json updated', () => (h.statsFile().total_failed === 1 ? h.statsFile() : undefined), 10_000);
    expect(stats.total_retried).toBe(2);
    expect(stats.total_failed).toBe(1);
    // Nothing half-written is left behind.
    const leftovers: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.name.endsWith('.partial') || e.name.endsWith('.qcow2')) leftovers.push(e.name);
      }
    };
    walk(h.outputDir);
    expect(leftovers).toEqual([]);
  });

  it('a descriptor + extent image is keyed by all its files: a changed extent behind the same descriptor is converted', async () => {
    // One monolithicFlat image (descriptor disk.vmdk + extent disk-flat.vmdk), then the very same
    // descriptor bytes with other extent contents of the same size, then that pair once more.
    const variant = (name: string, seed: number): { dir: string; key: string } => {
      const dir = join(fx.dir, name);
      mkdirSync(dir, { recursive: true });
      const raw = makeSeededRaw(join(fx.dir, `${name}.raw`), 4, seed);
      qemuImg(['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', raw, join(dir, 'disk.vmdk')]);
      return { dir, key: '' };
    };
    const a = variant('flat-a', 31);
    const b = variant('flat-b', 32);
    copyFileSync(join(a.dir, 'disk.vmdk'), join(b.dir, 'disk.vmdk')); // same descriptor text, other data
    const c = variant('flat-c', 33);
    copyFileSync(join(a.dir, 'disk.vmdk'), join(c.dir, 'disk.vmdk'));
    // Oracle: xxhsum of the files concatenated, descriptor first.
    const keyOf = async (dir: string) => {
      const r = await runCommand('sh', ['-c', `cat '${join(dir, 'disk.vmdk')}' '${join(dir, 'disk-flat.vmdk')}' | xxhsum -H3`]);
      return /([0-9a-f]{16})/.exec(r.stdout)![1];
    };
    a.key = await keyOf(a.dir);
    b.key = await keyOf(b.dir);

    const h = await startTracked({ config: { enable_deduplication: true, deduplication_use_md5: true, deduplication_hash: 'xxh3' } });
    const drop = (dir: string) => {
      copyFileSync(join(dir, 'disk-flat.vmdk'), join(h.watchDir, 'disk-flat.vmdk'));
      copyFileSync(join(dir, 'disk.vmdk'), join(h.watchDir, 'disk.vmdk'));
    };
    const watchEmpty = () => readdirSync(h.watchDir).every((n) => n.startsWith('.'));
    drop(a.dir);
    await h.waitForEvent('job_succeeded');
    await h.until('pair archived', watchEmpty);
    drop(b.dir);
    await h.waitForEvent('job_succeeded', () => h.count('job_succeeded') === 2);
    expect(h.count('duplicate_skipped')).toBe(0);
    await h.until('pair archived', watchEmpty);
    drop(b.dir);
    await h.waitForEvent('duplicate_skipped');
    expect(h.count('job_succeeded')).toBe(2);

    const dbPath = join(h.outputDir, '.daemon', 'deduplication.db');
    const db = new Database(dbPath, { readonly: true });
    const rows = db.prepare('SELECT filename, file_size, xxh3 FROM processed_files ORDER BY id').all() as Record<string, unknown>[];
    db.close();
    expect(rows.map((r) => r.xxh3)).toEqual([a.key, b.key]);
    expect(rows[0].file_size).toBe(4 * 1024 * 1024 + readFileSync(join(a.dir, 'disk.vmdk')).length);

    // The CLI looks images up with the daemon's key: b matches by xxh3; c's key is unknown, so it
    // only meets the name + total size fallback (what a daemon without hashing would match).
    const check = await runH2k(['dedup', 'check', '--db', dbPath, '--hash', 'xxh3', '--json', join(b.dir, 'disk.vmdk'), join(c.dir, 'disk.vmdk')]);
    expect(check.code).toBe(0);
    const results = JSON.parse(check.stdout).results as { file: string; processed: boolean; matchedBy?: string; size: number }[];
    expect(results.map((r) => [r.processed, r.matchedBy])).toEqual([[true, 'xxh3'], [true, 'name+size']]);
    expect(results[0].size).toBe(rows[1].file_size);
    const hashed = await runH2k(['hash', '-a', 'xxh3', '--dedup-db', dbPath, '--json', join(b.dir, 'disk.vmdk')]);
    expect(hashed.code).toBe(0);
    expect(hashed.stdout).toMatch(/"processed": true/);
  }, 180_000);

  for (const mode of ['name+size', 'md5', 'xxh3'] as const) {
    it(`skips a duplicate (${mode})`, async () => {
      const raw = makeSeededRaw(join(fx.dir, `d-${mode}.raw`), 2, 21);
      const config =
        mode === 'name+size'
          ? { enable_deduplication: true }
          : { enable_deduplication: true, deduplication_use_md5: true, deduplication_hash: mode };
      const h = await startTracked({ config });
      copyFileSync(raw, join(h.watchDir, 'disk.img'));
      await h.waitForEvent('job_succeeded');
      // Same name and size again (name+size), or the same bytes under a new name (hash).
      const again = mode === 'name+size' ? 'disk.img' : 'renamed.img';
      copyFileSync(raw, join(h.watchDir, again));
      const dup = await h.waitForEvent('duplicate_skipped');
      expect(dup.msg).toMatch(new RegExp(`^Skipping duplicate: ${again.replace('.', '\\.')} \\(originally processed: \\d{4}-\\d\\d-\\d\\dT`));
      expect(h.count('job_succeeded')).toBe(1);
      await h.until('duplicate archived', () => readdirSync(join(h.watchDir, '.processed', localDate())).length === 2);
      expect(readdirSync(join(h.watchDir, '.processed', localDate())).sort()).toEqual(mode === 'name+size' ? ['disk.1.img', 'disk.img'] : ['disk.img', 'renamed.img']);
      const stats = await h.ctl(['stats', '--json']);
      expect(JSON.parse(stats.stdout).stats.total_duplicates_skipped).toBe(1);
      const db = new Database(join(h.outputDir, '.daemon', 'deduplication.db'), { readonly: true });
      const rows = db.prepare('SELECT * FROM processed_files').all() as Record<string, unknown>[];
      db.close();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ filename: 'disk.img', status: 'success' });
      // md5 lives in hyper2kvm's column, md5_hash.
      if (mode !== 'name+size') expect(rows[0][mode === 'md5' ? 'md5_hash' : mode]).toMatch(/^[0-9a-f]+$/);
      expect(existsSync(join(h.watchDir, again))).toBe(false);
    });
  }
});
