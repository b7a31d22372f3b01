// Three real `h2k daemon` processes (hosts a, b, c) on one PostgreSQL (test/helpers/postgres.mjs),
// one shared watch folder and output folder: every dropped image converted exactly once (the
// files on disk, qemu-img compare and the jobs table as oracles), spread over the hosts; a host
// killed with SIGKILL mid-conversion -> its job redone by another host after the lease, one
// output, source intact. Also: an unreachable database at start -> exit 69, password not shown.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { collectDaemonLog, waitFor, type DaemonLog } from './helpers/daemon-harness.js';
import { h2kBin, repoRoot, runH2k } from './helpers/cli.js';
import { compareImages, tempDir } from './helpers/fixtures.js';
import { seededBytes } from './helpers/seeded-bytes.js';
import { sqlRows } from './helpers/pg-sql.js';
import { PG_PASSWORD, startPostgres, type PgServer } from './helpers/postgres.mjs';

const LEASE = 3;
const fx = tempDir('h2k-cluster');
const watchDir = join(fx.dir, 'watch');
const outputDir = join(fx.dir, 'out');
const staging = join(fx.dir, 'staging');
let server: PgServer;
let url: string;
const daemons: { host: string; proc: ChildProcess; log: DaemonLog; exited: Promise<number | null> }[] = [];

function startHost(host: string, env: NodeJS.ProcessEnv = {}) {
  const configPath = join(fx.dir, 'daemon.yaml');
  const proc = spawn(process.execPath, [h2kBin, 'daemon', '--config', configPath, '--log-format', 'json', '--host-name', host], {
    cwd: repoRoot, env: { ...process.env, H2K_QUEUE_URL: url, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const d = { host, proc, log: collectDaemonLog(proc), exited: new Promise<number | null>((r) => proc.on('exit', (code) => r(code))) };
  daemons.push(d);
  return d;
}
const started = (d: (typeof daemons)[number]) =>
  waitFor(() => `${d.host} started\n${d.log.stderr().slice(-3000)}`, () => d.log.events.find((e) => e.event === 'daemon_started'), 60_000);

const sql = <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) => sqlRows<R>(url, text, values);
/** Writes an image outside the watch folder, then renames it in (one atomic appearance). */
function drop(name: string, bytes: Buffer): string {
  const tmp = join(staging, name);
  writeFileSync(tmp, bytes);
  renameSync(tmp, join(watchDir, name));
  return tmp;
}
/** every file under output_dir's dated folders, relative */
function outputs(): string[] {
  const found: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === '.daemon') continue;
      if (e.isDirectory()) walk(join(dir, e.name), join(rel, e.name));
      else found.push(join(rel, e.name));
    }
  };
  if (existsSync(outputDir)) walk(outputDir, '');
  return found;
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase('cluster');
  for (const d of [watchDir, outputDir, staging]) mkdirSync(d, { recursive: true });
  writeFileSync(join(fx.dir, 'daemon.yaml'), stringify({
    watch_dir: watchDir, output_dir: outputDir, file_stable_timeout: 0.5, max_concurrent_jobs: 2, stats_interval: 1,
    lease_seconds: LEASE, out_format: 'qcow2', archive_processed: true,
    retry_policy: { enabled: true, max_retries: 2, retry_delay: 0.3, backoff_multiplier: 2 },
  }));
}, 120_000);
afterAll(async () => {
  for (const d of daemons) if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGKILL');
  await Promise.all(daemons.map((d) => d.exited));
  await server?.destroy();
  fx.cleanup();
});

describe('h2k daemon with queue_url', () => {
  test('an unreachable database at start: exit 69, the password never shown', async () => {
    const dead = `postgres://h2k:${encodeURIComponent(PG_PASSWORD)}@${encodeURIComponent(join(fx.dir, 'nowhere'))}:5999/x`;
    const r = await runH2k(['daemon', '--config', join(fx.dir, 'daemon.yaml'), '--host-name', 'z', '--queue-url', dead], { timeout: 30_000 });
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/E_QUEUE_UNREACHABLE|unreachable/);
    expect(r.stderr).not.toContain(PG_PASSWORD);
    expect(r.stderr).not.toContain(encodeURIComponent(PG_PASSWORD));
  }, 60_000);

  test('3 hosts, 30 images: each converted exactly once, spread over the hosts', async () => {
    const hosts = ['a', 'b', 'c'].map((h) => startHost(h));
    await Promise.all(hosts.map(started));
    for (const h of ['a', 'b', 'c']) expect(existsSync(join(outputDir, '.daemon', h, 'control.sock'))).toBe(true);
    const sources = new Map<string, Buffer>();
    for (let i = 0; i < 30; i++) {
      const bytes = seededBytes((1 + (i % 3)) * 256 * 1024, 1000 + i);
      sources.set(`vm${i}.img`, bytes);
      drop(`vm${i}.img`, bytes);
    }
    let seen: unknown[] = [];
    const done = await waitFor(
      () => `30 jobs done; not done: ${JSON.stringify(seen)}; ${JSON.stringify(daemons.map((d) => d.log.events.filter((e) => e.level !== 'info' || /fail|error|dup/.test(e.event)).slice(-5)))}`,
      async () => {
        const rows = await sql<{ id: string; host_name: string; state: string; last_error: unknown }>(`SELECT id, host_name, state, last_error FROM h2k.jobs`);
        seen = rows.filter((r) => r.state !== 'done');
        return rows.length === 30 && seen.length === 0 ? rows : undefined;
      },
      180_000, 250,
    );
    // database: 30 jobs, all done, none failed or doubled
    const all = await sql<{ n: number }>(`SELECT count(*)::int AS n FROM h2k.jobs`);
    expect(all[0].n).toBe(30);
    const byHost = new Map<string, number>();
    for (const r of done) byHost.set(r.host_name, (byHost.get(r.host_name) ?? 0) + 1);
    expect(byHost.size, JSON.stringify([...byHost])).toBeGreaterThanOrEqual(2);
    // logs: 30 job_completed lines in all, no job started twice
    await waitFor('every source archived', () => readdirSync(watchDir).filter((f) => f.endsWith('.img')).length === 0 || undefined, 30_000);
    const starts = daemons.flatMap((d) => d.log.events.filter((e) => e.event === 'job_started').map((e) => String(e.file)));
    expect(starts.length).toBe(30);
    expect(new Set(starts).size).toBe(30);
    // disk: exactly one qcow2 per source, no .partial left
    const files = outputs();
    expect(files.filter((f) => f.endsWith('.partial'))).toEqual([]);
    const qcows = files.filter((f) => f.endsWith('.qcow2'));
    expect(qcows).toHaveLength(30);
    expect(new Set(qcows.map((f) => f.split('/').slice(-1)[0])).size).toBe(30);
    // content: a sample against its source with qemu-img compare (an independent reader)
    for (const i of [0, 13, 29]) {
      const out = join(outputDir, qcows.find((f) => f.endsWith(`/vm${i}.qcow2`))!);
      const src = join(staging, `check-vm${i}.raw`);
      writeFileSync(src, sources.get(`vm${i}.img`)!);
      expect(compareImages(src, out, 'raw', 'qcow2').code).toBe(0);
    }
    // the dedup records of the whole cluster are in the database, each naming its host
    const recs = await sql<{ host_name: string }>(`SELECT host_name FROM h2k.processed_files WHERE status = 'success'`);
    expect(recs).toHaveLength(30);
    // h2k ctl --queue-url: the cluster from its database; --host: one host's socket
    const ctl = await runH2k(['ctl', '--queue-url', url, '--json', 'status'], { timeout: 30_000 });
    expect(ctl.code, ctl.stderr).toBe(0);
    expect(ctl.stdout).not.toContain(PG_PASSWORD);
    const cl = JSON.parse(ctl.stdout).cluster as { hosts: { hostName: string; alive: boolean; done: number }[]; done: number; waiting: number };
    expect(cl.hosts.map((h) => [h.hostName, h.alive])).toEqual([['a', true], ['b', true], ['c', true]]);
    expect(cl.hosts.reduce((n, h) => n + h.done, 0)).toBe(30);
    expect([cl.done, cl.waiting]).toEqual([30, 0]);
    const one = await runH2k(['ctl', '--output-dir', outputDir, '--host', 'b', '--json', 'status'], { timeout: 30_000 });
    expect(one.code, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout).pid).toBe(daemons.find((d) => d.host === 'b')!.proc.pid);
    expect(JSON.parse(one.stdout).host_name).toBe('b');
    expect(one.stdout).toContain('***');
    expect(one.stdout).not.toContain(encodeURIComponent(PG_PASSWORD));
    // secrets: no log line of any host holds the password
    for (const d of daemons) expect(d.log.stderr()).not.toContain(PG_PASSWORD);
  }, 300_000);

  test('kill -9 of the host converting a job: another host redoes it after the lease; one output, source intact', async () => {
    const big = seededBytes(192 * 1024 * 1024, 7, true);
    const digest = sha(big);
    const before = daemons.map((d) => d.log.events.length);
    drop('big.img', big);
    const id = join(watchDir, 'big.img');
    const [holder] = await waitFor('big.img claimed', async () => {
      const rows = await sql<{ host_name: string }>(`SELECT host_name FROM h2k.jobs WHERE id = $1 AND state = 'running'`, [id]);
      return rows.length ? rows : undefined;
    }, 60_000, 50);
    const victim = daemons.find((d) => d.host === holder.host_name)!;
    // mid-conversion: its .partial exists
    await waitFor('big partial written', () => outputs().some((f) => f.includes('big') && f.endsWith('.partial')) || undefined, 60_000, 20);
    victim.proc.kill('SIGKILL');
    await victim.exited;
    const killedAt = Date.now();
    const [redo] = await waitFor('big.img redone', async () => {
      const rows = await sql<{ host_name: string; attempts: number }>(`SELECT host_name, attempts FROM h2k.jobs WHERE id = $1 AND state = 'done'`, [id]);
      return rows.length ? rows : undefined;
    }, 240_000, 250);
    expect(redo.host_name).not.toBe(victim.host);
    expect(redo.attempts).toBe(2);
    const redoneBy = daemons.find((d) => d.host === redo.host_name)!;
    const claimEvent = redoneBy.log.events.slice(before[daemons.indexOf(redoneBy)]).find((e) => e.event === 'job_started' && e.file === id)!;
    expect(Date.parse(claimEvent.time) - killedAt).toBeLessThan((LEASE + 3) * 1000);
    // one output, the source's content, no .partial taken for a result
    const archived = await waitFor('big archived', () => (readdirSync(join(watchDir, '.processed'), { recursive: true }) as string[]).find((f) => f.endsWith('/big.img')), 30_000);
    const bigOut = outputs().filter((f) => f.includes('big') && f.endsWith('.qcow2'));
    expect(bigOut).toHaveLength(1);
    const src = join(staging, 'check-big.raw');
    writeFileSync(src, big);
    expect(compareImages(src, join(outputDir, bigOut[0]), 'raw', 'qcow2').code).toBe(0);
    expect(statSync(join(watchDir, '.processed', archived)).size).toBe(big.length);
    expect(sha(readFileSync(join(watchDir, '.processed', archived)))).toBe(digest);
  }, 360_000);

  test('PostgreSQL restarted mid-run: the daemons reconnect and finish; every image converted, one output each', async () => {
    const live = daemons.filter((d) => d.proc.exitCode === null && d.proc.signalCode === null);
    expect(live.length).toBeGreaterThanOrEqual(2);
    const sources = new Map<string, Buffer>();
    for (let i = 0; i < 12; i++) {
      const bytes = seededBytes(8 * 1024 * 1024, 5000 + i);
      sources.set(`db${i}.img`, bytes);
      drop(`db${i}.img`, bytes);
    }
    const doneCount = async () =>
      (await sql<{ n: number }>(`SELECT count(*)::int AS n FROM h2k.jobs WHERE state = 'done' AND id LIKE '%/db%'`))[0].n;
    await waitFor('a first db image done', async () => ((await doneCount()) >= 1 ? true : undefined), 120_000, 100);
    await server.stop('fast');
    await new Promise((r) => setTimeout(r, 1500));
    await server.start();
    let jobs: unknown[] = [];
    await waitFor(
      () => `12 db images done; jobs ${JSON.stringify(jobs)}; in the watch folder ${readdirSync(watchDir).join(' ')}; ${JSON.stringify(live.map((d) => d.log.events.filter((e) => e.level !== 'info').slice(-4)))}`,
      async () => {
        jobs = await sql(`SELECT id, state, host_name, attempts, lease_until, last_error FROM h2k.jobs WHERE id LIKE '%/db%' AND state <> 'done'`);
        return (await doneCount()) === 12 ? true : undefined;
      },
      120_000, 250,
    );
    // no daemon died of it
    for (const d of live) expect(d.proc.exitCode, d.host).toBeNull();
    expect(await sql(`SELECT state, count(*)::int AS n FROM h2k.jobs WHERE id LIKE '%/db%' GROUP BY 1`)).toEqual([{ state: 'done', n: 12 }]);
    await waitFor('db sources archived', () => readdirSync(watchDir).filter((f) => f.startsWith('db')).length === 0 || undefined, 30_000);
    const dbOut = outputs().filter((f) => /\/db\d+/.test(f));
    expect(dbOut.filter((f) => f.endsWith('.partial'))).toEqual([]);
    const names = dbOut.filter((f) => f.endsWith('.qcow2')).map((f) => f.split('/').pop()!);
    expect(names.sort()).toEqual([...sources.keys()].map((n) => n.replace('.img', '.qcow2')).sort());
    expect(dbOut.filter((f) => f.endsWith('.qcow2'))).toHaveLength(12);
    for (const i of [0, 11]) {
      const out = join(outputDir, dbOut.find((f) => f.endsWith(`/db${i}.qcow2`))!);
      const src = join(staging, `check-db${i}.raw`);
      writeFileSync(src, sources.get(`db${i}.img`)!);
      expect(compareImages(src, out, 'raw', 'qcow2').code).toBe(0);
    }
    // the restart was seen and survived, not missed
    const errs = live.flatMap((d) => d.log.events.filter((e) => /queue_connection_error|scheduler_error|unreachable/i.test(`${e.event} ${e.message ?? ''}`)));
    expect(errs.length).toBeGreaterThan(0);
  }, 360_000);
});
