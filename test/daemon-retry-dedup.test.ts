// The real daemon: transient failures (job_timeout -> E_TIMEOUT) retried with exponential
// backoff then filed under .errors/; duplicates skipped by name+size and by content hash.
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { makeSeededRaw, tempDir } from './helpers/fixtures.js';
import { startDaemon, type DaemonHarness } from './helpers/daemon-harness.js';

const fx = tempDir('daemon-retry-fx');
const harnesses: DaemonHarness[] = [];
afterAll(async () => {
  for (const h of harnesses) {
    await h.shutdown();
    h.cleanup();
  }
  fx.cleanup();
});

describe('retry and dedup (real daemon)', () => {
  it('retries a timed-out conversion after 0.3 s then 0.6 s, then files it under .errors/', async () => {
    const raw = makeSeededRaw(join(fx.dir, 'slow.raw'), 32, 9);
    // Every attempt is cancelled after 1 ms: a transient E_TIMEOUT each time.
    const h = await startDaemon({
      config: { job_timeout: 0.001, compression: 'zlib', threads: 1, retry_policy: { max_retries: 2, retry_delay: 0.3, backoff_multiplier: 2 } },
    });
    harnesses.push(h);
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

  for (const mode of ['name+size', 'md5', 'xxh3'] as const) {
    it(`skips a duplicate (${mode})`, async () => {
      const raw = makeSeededRaw(join(fx.dir, `d-${mode}.raw`), 2, 21);
      const config =
        mode === 'name+size'
          ? { enable_deduplication: true }
          : { enable_deduplication: true, deduplication_use_md5: true, deduplication_hash: mode };
      const h = await startDaemon({ config });
      harnesses.push(h);
      copyFileSync(raw, join(h.watchDir, 'disk.img'));
      await h.waitForEvent('job_succeeded');
      // Same name and size again (name+size), or the same bytes under a new name (hash).
      const again = mode === 'name+size' ? 'disk.img' : 'renamed.img';
      copyFileSync(raw, join(h.watchDir, again));
      const dup = await h.waitForEvent('duplicate_skipped');
      expect(dup.msg).toMatch(new RegExp(`^Skipping duplicate: ${again.replace('.', '\\.')} \\(originally processed: \\d{4}-\\d\\d-\\d\\dT`));
      expect(h.count('job_succeeded')).toBe(1);
      await h.until('duplicate archived', () => readdirSync(join(h.watchDir, '.processed')).length === 2);
      expect(readdirSync(join(h.watchDir, '.processed')).sort()).toEqual(mode === 'name+size' ? ['disk.1.img', 'disk.img'] : ['disk.img', 'renamed.img']);
      const stats = await h.ctl(['stats', '--json']);
      expect(JSON.parse(stats.stdout).stats.total_duplicates_skipped).toBe(1);
      const db = new Database(join(h.outputDir, '.daemon', 'deduplication.db'), { readonly: true });
      const rows = db.prepare('SELECT * FROM processed_files').all() as Record<string, unknown>[];
      db.close();
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ filename: 'disk.img', status: 'success' });
      if (mode !== 'name+size') expect(rows[0][mode]).toMatch(/^[0-9a-f]+$/);
      expect(existsSync(join(h.watchDir, again))).toBe(false);
    });
  }
});
