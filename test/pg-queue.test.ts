// The PostgreSQL job queue on a real PostgreSQL 15 started by this file (test/helpers/postgres.mjs):
// the JobQueue contract, enqueue-once across hosts, claims by parallel processes, leases that
// expire when a host dies and hold while it heartbeats, the cluster-wide job limit, a database
// restart mid-run, and errors that never show the password. The database is read back with plain
// SQL as the oracle. Child "hosts" run test/helpers/pg-claimer.mjs on the compiled dist/.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PgJobQueue } from '../src/daemon/queue/pg-queue.js';
import { migrate, SCHEMA_VERSION } from '../src/daemon/queue/pg-schema.js';
import type { DesiredState } from '../src/daemon/queue/pg-control.js';
import { waitFor } from './helpers/daemon-harness.js';

/** every migration applied, in order */
const ALL_VERSIONS = Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ version: i + 1 }));
import type { JobSpec } from '../src/daemon/queue/job-queue.js';
import { redactUrl, redactorFor } from '../src/util/redact.js';
import { sqlRows } from './helpers/pg-sql.js';
import { PG_PASSWORD, startPostgres, type PgServer } from './helpers/postgres.mjs';

const claimer = join(dirname(fileURLToPath(import.meta.url)), 'helpers', 'pg-claimer.mjs');
let server: PgServer;
let dbCount = 0;
const opened: PgJobQueue[] = [];

beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await Promise.all(opened.map((q) => q.close().catch(() => undefined)));
  await server?.destroy();
});

const freshDb = () => server.createDatabase(`q${++dbCount}`);
async function openQueue(url: string, hostName: string, extra: Partial<Parameters<typeof PgJobQueue.open>[0]> = {}) {
  const q = await PgJobQueue.open({ url, hostName, ...extra });
  opened.push(q);
  return q;
}
const spec = (n: number | string): JobSpec => ({
  id: `/watch/vm${n}.vmdk`, primary: `/watch/vm${n}.vmdk`, files: [`/watch/vm${n}.vmdk`], fileType: 'vmdk', sizeBytes: 1024, queuedAt: new Date(0).toISOString(),
});
const sql = sqlRows;
async function enqueueMany(q: PgJobQueue, n: number) {
  for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, k) => q.enqueue(spec(i + k))));
}

interface DrainResult { host: string; done: string[]; unreachable: number; leaseLost: string[]; seconds: number }
function runClaimer(mode: 'drain' | 'hold', url: string, host: string, lease = 30): { proc: ChildProcess; lines: AsyncIterator<string>; stderr: () => string } {
  const proc = spawn(process.execPath, [claimer, mode, url, host, String(lease)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  return { proc, lines: createInterface({ input: proc.stdout! })[Symbol.asyncIterator](), stderr: () => err };
}
async function drain(url: string, host: string, lease = 30): Promise<DrainResult> {
  const c = runClaimer('drain', url, host, lease);
  const line = await c.lines.next();
  const [code] = await once(c.proc, 'exit');
  if (code !== 0 || line.done) throw new Error(`claimer ${host} exited ${code}: ${c.stderr()}`);
  return JSON.parse(line.value) as DrainResult;
}

describe('schema', () => {
  test('the first daemon creates the schema, the next ones find it; a newer schema is refused', async () => {
    const url = await freshDb();
    await Promise.all(['a', 'b', 'c'].map((h) => openQueue(url, h)));
    expect(await sql(url, 'SELECT version FROM h2k.schema_version ORDER BY version')).toEqual(ALL_VERSIONS);
    expect((await sql<{ host_name: string }>(url, 'SELECT host_name FROM h2k.hosts ORDER BY 1')).map((r) => r.host_name)).toEqual(['a', 'b', 'c']);
    await sql(url, 'INSERT INTO h2k.schema_version (version) VALUES (99)');
    await expect(PgJobQueue.open({ url, hostName: 'old' })).rejects.toMatchObject({ code: 'E_QUEUE_VERSION' });
  });

  test('a database of schema version 1 is upgraded in place, its jobs kept', async () => {
    const url = await freshDb();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      expect(await migrate(c, 1)).toBe(0); // what an h2k with one migration left behind
      await c.query(`INSERT INTO h2k.jobs (id, spec, state) VALUES ('/watch/old.vmdk', $1, 'waiting')`, [JSON.stringify({ primary: '/watch/old.vmdk', files: ['/watch/old.vmdk'], fileType: 'vmdk', sizeBytes: 1, queuedAt: '' })]);
    } finally {
      await c.end();
    }
    const q = await openQueue(url, 'upgrader');
    expect(await sql(url, 'SELECT version FROM h2k.schema_version ORDER BY version')).toEqual(ALL_VERSIONS);
    expect((await q.claim(Date.now()))?.id).toBe('/watch/old.vmdk');
    expect(await sql(url, 'SELECT count(*)::int AS n FROM h2k.processed_files')).toEqual([{ n: 0 }]);
  });
});

describe('the JobQueue contract', () => {
  test('one job per id however many hosts enqueue it; claim, retry, release, fail, complete', async () => {
    const url = await freshDb();
    const [a, b, c] = await Promise.all(['host-a', 'host-b', 'host-c'].map((h) => openQueue(url, h)));
    // The same file seen by three daemons at once: one job.
    const added = await Promise.all([a, b, c].flatMap((q) => [q.enqueue(spec(1)), q.enqueue(spec(1))]));
    expect(added.filter(Boolean)).toHaveLength(1);
    expect(await sql(url, 'SELECT count(*)::int AS n FROM h2k.jobs')).toEqual([{ n: 1 }]);
    expect(await b.enqueue(spec(2))).toBe(true);
    expect(await c.has(spec(1).id)).toBe(true);
    expect(await c.has('/watch/none')).toBe(false);

    // Oldest first, the claim records the host and a lease of lease_seconds.
    const now = Date.now();
    const j1 = await b.claim(now);
    expect(j1).toMatchObject({ ...spec(1), state: 'running', retryCount: 0 });
    const [row] = await sql<{ host_name: string; lease: number }>(url, `SELECT host_name, extract(epoch FROM lease_until - now())::float AS lease FROM h2k.jobs WHERE id = $1`, [j1!.id]);
    expect(row.host_name).toBe('host-b');
    expect(row.lease).toBeGreaterThan(25);
    expect(row.lease).toBeLessThanOrEqual(30);
    expect(await a.counts(now)).toEqual({ waiting: 1, retryWaiting: 0, running: 1 });

    // Only the holder may settle a job.
    await expect(a.complete(j1!.id)).rejects.toMatchObject({ code: 'E_QUEUE_LEASE_LOST' });
    // A retry goes back to waiting until `at`, counted, behind newer work.
    await b.retryAt(j1!.id, now + 60_000, { code: 'E_IO', message: 'read error' });
    expect(await a.counts(now)).toEqual({ waiting: 2, retryWaiting: 1, running: 0 });
    expect(await a.nextDueAt(now)).toBe(now + 60_000);
    const j2 = await a.claim(now);
    expect(j2?.id).toBe(spec(2).id);
    expect(await c.claim(now)).toBeUndefined(); // vm1 is not due yet
    const retried = await c.claim(now + 60_000);
    expect(retried).toMatchObject({ id: spec(1).id, retryCount: 1, notBefore: now + 60_000, lastError: { code: 'E_IO', message: 'read error' } });

    // release: back to waiting without counting a retry.
    await c.release(retried!.id);
    const again = await a.claim(now + 60_000);
    expect(again).toMatchObject({ id: spec(1).id, retryCount: 1 });
    await a.fail(again!.id, { code: 'E_CORRUPT', message: 'bad header' });
    await a.complete(j2!.id);
    expect(await sql(url, 'SELECT id, state, attempts, host_name, last_error FROM h2k.jobs ORDER BY id')).toEqual([
      { id: spec(1).id, state: 'failed', attempts: 3, host_name: 'host-a', last_error: { code: 'E_CORRUPT', message: 'bad header' } },
      { id: spec(2).id, state: 'done', attempts: 1, host_name: 'host-a', last_error: null },
    ]);
    expect(await b.counts(now)).toEqual({ waiting: 0, retryWaiting: 0, running: 0 });
    expect(await b.has(spec(1).id)).toBe(false);
    // A finished id may come back (a new file dropped under the same path), once.
    expect(await Promise.all([b.enqueue(spec(1)), c.enqueue(spec(1))])).toEqual(expect.arrayContaining([true, false]));
  });

  test('cluster status: hosts alive or silent with their jobs, queue depth, throughput; old jobs and hosts purged', async () => {
    const url = await freshDb();
    // st-b heartbeats every 100 s: none comes during the test to undo the silence made below.
    const [a, b] = await Promise.all([openQueue(url, 'st-a'), openQueue(url, 'st-b', { leaseSeconds: 300 })]);
    await enqueueMany(a, 5);
    const [j0, j1, j2] = [await a.claim(Date.now()), await a.claim(Date.now()), await b.claim(Date.now())];
    await a.complete(j0!.id);
    await a.fail(j1!.id, { code: 'E_CORRUPT', message: 'x' });
    // st-b has been silent for longer than its lease: not alive, and its job is waiting again.
    await sql(url, `UPDATE h2k.hosts SET last_seen = now() - interval '301 seconds' WHERE host_name = 'st-b'`);
    await sql(url, `UPDATE h2k.jobs SET lease_until = now() - interval '1 second' WHERE id = $1`, [j2!.id]);
    const st = await b.clusterStatus();
    expect(st).toMatchObject({ waiting: 3, running: 0, done: 1, failed: 1, finishedLastMinute: 2 });
    expect(st.hosts.map(({ hostName, alive, running, done, failed, pid }) => ({ hostName, alive, running, done, failed, pid }))).toEqual([
      { hostName: 'st-a', alive: true, running: 0, done: 1, failed: 1, pid: process.pid },
      { hostName: 'st-b', alive: false, running: 0, done: 0, failed: 0, pid: process.pid },
    ]);
    expect(Date.parse(st.hosts[0].lastSeen)).toBeGreaterThan(Date.parse(st.hosts[1].lastSeen) + 300_000);
    await sql(url, `UPDATE h2k.jobs SET finished_at = now() - interval '91 days' WHERE state = 'done'`);
    await sql(url, `UPDATE h2k.hosts SET last_seen = now() - interval '91 days' WHERE host_name = 'st-b'`);
    // manifest runs: one filed long ago, one filed recently, one still running
    await sql(url, `INSERT INTO h2k.manifest_runs (run_id, manifest, vms, filed_at) VALUES
      ('old', 'a.json', 1, now() - interval '91 days'), ('recent', 'b.json', 1, now() - interval '1 day'), ('open', 'c.json', 1, NULL)`);
    expect(await a.purgeFinished(90)).toBe(1);
    expect(await sql(url, `SELECT state FROM h2k.jobs WHERE state IN ('done', 'failed')`)).toEqual([{ state: 'failed' }]);
    expect((await a.clusterStatus()).hosts.map((h) => h.hostName)).toEqual(['st-a']);
    expect((await sql<{ run_id: string }>(url, `SELECT run_id FROM h2k.manifest_runs ORDER BY 1`)).map((r) => r.run_id)).toEqual(['open', 'recent']);
  });

  test('cluster control: pause/resume/drain every host or one, by NOTIFY within a second; a host started later follows the cluster; a restart ends a drain', async () => {
    const url = await freshDb();
    const seen = new Map<string, { desired: DesiredState; commanded: boolean }[]>();
    // a long lease: no heartbeat during the test, so every change below came by NOTIFY
    const host = (name: string) =>
      openQueue(url, name, { leaseSeconds: 60, onDesired: (desired, commanded) => void (seen.get(name) ?? seen.set(name, []).get(name)!).push({ desired, commanded }) });
    const last = (name: string) => seen.get(name)?.at(-1)?.desired;
    const [a, b] = await Promise.all([host('a'), host('b')]);
    expect([last('a'), last('b')]).toEqual(['running', 'running']);
    const obs = await PgJobQueue.observe({ url });
    opened.push(obs);
    const t0 = Date.now();
    expect((await obs.command('pause')).hosts).toEqual(['a', 'b']);
    await waitFor('a and b paused', () => (last('a') === 'paused' && last('b') === 'paused') || undefined, 5000, 10);
    expect(Date.now() - t0).toBeLessThan(1000);
    // started while the cluster is paused: paused from its first read
    await host('c');
    expect(seen.get('c')).toEqual([{ desired: 'paused', commanded: false }]);
    // one host resumed; the others are not told anything
    await obs.command('resume', 'b');
    await waitFor('b resumed', () => last('b') === 'running' || undefined, 5000, 10);
    await b.reportState('running');
    await a.reportState('paused');
    const st = await obs.clusterStatus();
    expect(st.desired).toBe('paused');
    expect(st.hosts.map((h) => [h.hostName, h.desired, h.state])).toEqual([['a', 'paused', 'paused'], ['b', 'running', 'running'], ['c', 'paused', 'running']]);
    expect(seen.get('a')!.length).toBe(2);
    // drain one host; a drained host cannot be paused or resumed; unknown hosts are refused
    await obs.command('drain', 'a');
    await waitFor('a draining', () => last('a') === 'draining' || undefined, 5000, 10);
    await expect(obs.command('pause', 'a')).rejects.toMatchObject({ code: 'E_USAGE', message: expect.stringMatching(/draining/) });
    await expect(obs.command('pause', 'zz')).rejects.toMatchObject({ code: 'E_USAGE', hint: 'hosts: a, b, c' });
    // a cluster-wide resume replaces b's own override but leaves a's drain
    await obs.command('resume');
    await waitFor('c resumed', () => last('c') === 'running' || undefined, 5000, 10);
    expect((await obs.clusterStatus()).hosts.map((h) => h.desired)).toEqual(['draining', 'running', 'running']);
    // a restarted host is no longer draining
    await a.close();
    seen.delete('a');
    await host('a');
    expect(seen.get('a')).toEqual([{ desired: 'running', commanded: false }]);
    // a cluster-wide drain reaches only the hosts alive now
    await sql(url, `UPDATE h2k.hosts SET last_seen = now() - interval '61 seconds' WHERE host_name = 'c'`);
    expect((await obs.command('drain')).hosts).toEqual(['a', 'b']);
    await waitFor('a and b draining', () => (last('a') === 'draining' && last('b') === 'draining') || undefined, 5000, 10);
    expect(last('c')).toBe('running');
  });

  test('fence: the holder renews its lease before publishing; a host whose job was taken over is refused', async () => {
    const url = await freshDb();
    const [a, b] = await Promise.all([openQueue(url, 'fa', { leaseSeconds: 60 }), openQueue(url, 'fb', { leaseSeconds: 60 })]);
    await a.enqueue(spec('f'));
    const job = (await a.claim(Date.now()))!;
    await sql(url, `UPDATE h2k.jobs SET lease_until = now() + interval '1 second' WHERE id = $1`, [job.id]);
    await a.fence(job.id);
    const [{ left }] = await sql<{ left: number }>(url, `SELECT extract(epoch FROM lease_until - now())::float AS left FROM h2k.jobs WHERE id = $1`, [job.id]);
    expect(left).toBeGreaterThan(50);
    // a's lease runs out (no heartbeat got through); b takes the job over
    await sql(url, `UPDATE h2k.jobs SET lease_until = now() - interval '1 second' WHERE id = $1`, [job.id]);
    expect((await b.claim(Date.now()))?.id).toBe(job.id);
    await expect(a.fence(job.id)).rejects.toMatchObject({ code: 'E_QUEUE_LEASE_LOST' });
    await b.fence(job.id);
    await expect(a.complete(job.id)).rejects.toMatchObject({ code: 'E_QUEUE_LEASE_LOST' });
    await b.complete(job.id);
    expect(await sql(url, `SELECT state, host_name, attempts FROM h2k.jobs`)).toEqual([{ state: 'done', host_name: 'fb', attempts: 2 }]);
  });

  test('cluster_max_jobs bounds the jobs running in the whole cluster', async () => {
    const url = await freshDb();
    const hosts = await Promise.all(['h1', 'h2', 'h3'].map((h) => openQueue(url, h, { clusterMaxJobs: 2 })));
    await enqueueMany(hosts[0], 6);
    const claims = (await Promise.all(hosts.flatMap((q) => [q.claim(Date.now()), q.claim(Date.now())]))).filter(Boolean);
    expect(claims).toHaveLength(2);
    expect(await sql(url, `SELECT count(*)::int AS n FROM h2k.jobs WHERE state = 'running'`)).toEqual([{ n: 2 }]);
    const holder = hosts.find((q) => q.heldIds().includes(claims[0]!.id))!;
    await holder.complete(claims[0]!.id);
    expect(await hosts[2].claim(Date.now())).toBeDefined();
    expect(await hosts[1].claim(Date.now())).toBeUndefined();
  });

  test('an enqueue or release on one host wakes every listening host at once (LISTEN/NOTIFY); the listener survives a server restart', async () => {
    const url = await freshDb();
    const woken: string[] = [];
    const until = async (n: number) => {
      const t0 = Date.now();
      while (woken.length < n && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
      return woken.length;
    };
    const a = await openQueue(url, 'wk-a', { onWork: () => woken.push('a') });
    const b = await openQueue(url, 'wk-b', { onWork: () => woken.push('b') });
    await until(2); // each listener wakes once when it starts listening
    woken.length = 0;
    const feeder = await openQueue(url, 'wk-feeder');
    const t0 = Date.now();
    expect(await feeder.enqueue(spec('wake'))).toBe(true);
    expect(await until(2)).toBe(2);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(woken.sort()).toEqual(['a', 'b']);
    // a duplicate enqueue changes nothing and wakes nobody
    woken.length = 0;
    expect(await feeder.enqueue(spec('wake'))).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    expect(woken).toEqual([]);
    const job = await a.claim(Date.now());
    await a.release(job!.id);
    expect(await until(2)).toBe(2);
    // a server restart: the listener reconnects by itself (and wakes once for what it may have missed)
    await server.stop('fast');
    await server.start();
    woken.length = 0;
    const t1 = Date.now();
    while (Date.now() - t1 < 15_000) {
      await feeder.enqueue(spec(`after-${Date.now()}`)).catch(() => false);
      if (woken.includes('a') && woken.includes('b')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(new Set(woken)).toEqual(new Set(['a', 'b']));
  }, 60_000);
});

describe('several hosts', () => {
  test('3 claimer processes drain 600 jobs: each claimed and completed exactly once, spread over the hosts', async () => {
    const url = await freshDb();
    await enqueueMany(await openQueue(url, 'feeder'), 600);
    const results = await Promise.all(['p1', 'p2', 'p3'].map((h) => drain(url, h)));
    const all = results.flatMap((r) => r.done);
    expect(all).toHaveLength(600);
    expect(new Set(all).size).toBe(600);
    for (const r of results) expect(r.done.length).toBeGreaterThan(0);
    expect(await sql(url, `SELECT state, attempts, count(*)::int AS n FROM h2k.jobs GROUP BY 1, 2`)).toEqual([{ state: 'done', attempts: 1, n: 600 }]);
    const perHost = await sql<{ host_name: string; n: number }>(url, `SELECT host_name, count(*)::int AS n FROM h2k.jobs GROUP BY 1 ORDER BY 1`);
    expect(perHost).toEqual(results.map((r) => ({ host_name: r.host, n: r.done.length })).sort((x, y) => x.host_name.localeCompare(y.host_name)));
  });

  test('a host killed with -9 loses its job after the lease; a live host keeps its job by heartbeats', async () => {
    const url = await freshDb();
    const other = await openQueue(url, 'survivor', { leaseSeconds: 2 });
    await enqueueMany(other, 2);
    const live = runClaimer('hold', url, 'alive', 2);
    const doomed = runClaimer('hold', url, 'doomed', 2);
    try {
      const liveJob = JSON.parse((await live.lines.next()).value).claimed as string;
      const deadJob = JSON.parse((await doomed.lines.next()).value).claimed as string;
      expect(liveJob).not.toBe(deadJob);
      doomed.proc.kill('SIGKILL');
      const killedAt = Date.now();
      expect(await other.claim(Date.now())).toBeUndefined(); // lease still live
      let taken;
      while (!(taken = await other.claim(Date.now()))) await new Promise((r) => setTimeout(r, 100));
      const after = (Date.now() - killedAt) / 1000;
      expect(taken.id).toBe(deadJob);
      expect(after).toBeGreaterThan(1);
      expect(after).toBeLessThan(6); // 2 s lease + polling, with room for a loaded machine
      // The live holder heartbeats (every lease/3): three lease periods later its job is still its own.
      await new Promise((r) => setTimeout(r, 6000));
      expect(await other.claim(Date.now())).toBeUndefined();
      expect(await sql(url, 'SELECT id, host_name, attempts FROM h2k.jobs ORDER BY id')).toEqual(
        [{ id: deadJob, host_name: 'survivor', attempts: 2 }, { id: liveJob, host_name: 'alive', attempts: 1 }].sort((x, y) => x.id.localeCompare(y.id)),
      );
    } finally {
      live.proc.kill('SIGKILL');
      doomed.proc.kill('SIGKILL');
    }
  });

  test('a host whose lease was taken over cannot settle the job and is told so', async () => {
    const url = await freshDb();
    const lost: string[] = [];
    const slow = await openQueue(url, 'cut-off', { onLeaseLost: (id) => lost.push(id) });
    const fast = await openQueue(url, 'taker');
    await slow.enqueue(spec(7));
    const job = await slow.claim(Date.now());
    // As if cut-off's heartbeats had not reached the database for lease_seconds:
    await sql(url, `UPDATE h2k.jobs SET lease_until = now() - interval '1 second'`);
    expect(await slow.counts(Date.now())).toEqual({ waiting: 1, retryWaiting: 0, running: 0 });
    expect((await fast.claim(Date.now()))?.id).toBe(job!.id);
    await slow.heartbeat();
    expect(lost).toEqual([job!.id]);
    await expect(slow.complete(job!.id)).rejects.toMatchObject({ code: 'E_QUEUE_LEASE_LOST' });
    await fast.complete(job!.id);
    expect(await sql(url, 'SELECT state, host_name, attempts FROM h2k.jobs')).toEqual([{ state: 'done', host_name: 'taker', attempts: 2 }]);
  });

  test('the database restarted mid-run: claimers reconnect and finish, nothing lost or doubled', async () => {
    const url = await freshDb();
    const errors: string[] = [];
    const feeder = await openQueue(url, 'feeder', { onError: (e) => errors.push(e.message) });
    await enqueueMany(feeder, 1500);
    // A claim committed just before the shutdown whose answer was lost is held by nobody: the
    // short lease hands it to another host (attempts 2) instead of stalling the run for 30 s.
    const running = Promise.all(['r1', 'r2', 'r3'].map((h) => drain(url, h, 10)));
    const waitDone = async (n: number) => {
      while ((await sql<{ n: number }>(url, `SELECT count(*)::int AS n FROM h2k.jobs WHERE state = 'done'`))[0].n < n) await new Promise((r) => setTimeout(r, 20));
    };
    await waitDone(100);
    await server.stop('fast');
    await expect(feeder.counts(Date.now())).rejects.toMatchObject({ code: 'E_QUEUE_UNREACHABLE' });
    await new Promise((r) => setTimeout(r, 1000));
    await server.start();
    const results = await running;
    const all = results.flatMap((r) => r.done);
    expect(all).toHaveLength(1500);
    expect(new Set(all).size).toBe(1500);
    expect(results.reduce((s, r) => s + r.unreachable, 0)).toBeGreaterThan(0);
    expect(await sql(url, `SELECT state, count(*)::int AS n, max(attempts) <= 2 AS ok FROM h2k.jobs GROUP BY 1`)).toEqual([{ state: 'done', n: 1500, ok: true }]);
    // The queue of this process reconnects by itself.
    expect(await feeder.counts(Date.now())).toEqual({ waiting: 0, retryWaiting: 0, running: 0 });
    for (const m of errors) expect(m).not.toContain(PG_PASSWORD);
  });

  test('a server that stops answering (frozen, no reset): E_QUEUE_UNREACHABLE after the query timeout, then it works again', async () => {
    const url = await freshDb();
    const q = await openQueue(url, 'patient', { queryTimeoutMs: 1500 });
    await q.enqueue(spec(9));
    server.signalAll('SIGSTOP');
    try {
      const t0 = Date.now();
      await expect(q.claim(Date.now())).rejects.toMatchObject({ code: 'E_QUEUE_UNREACHABLE' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      server.signalAll('SIGCONT');
    }
    // The claim sent before the freeze may run when the server thaws, for a caller that has
    // given up on it: the queue finds it by its token and puts the job back at once, not after
    // the 30 s lease.
    const t1 = Date.now();
    let job;
    while (!(job = await q.claim(Date.now())) && Date.now() - t1 < 10_000) await new Promise((r) => setTimeout(r, 100));
    expect(Date.now() - t1).toBeLessThan(5000);
    expect(job?.id).toBe(spec(9).id);
    // attempts 2: the lost claim did run on the thawed server (the query was in its socket).
    expect(await sql(url, 'SELECT host_name, attempts FROM h2k.jobs')).toEqual([{ host_name: 'patient', attempts: 2 }]);
  });
});

describe('errors never show the password', () => {
  const secret = 'Top/Secret:p@ss%word';
  const enc = encodeURIComponent(secret);
  const hidden = (text: string) => {
    for (const s of [secret, enc, 'Secret']) expect(text).not.toContain(s);
  };

  test('redaction masks the password in every spelling', () => {
    const url = `postgres://h2k:${enc}@db.example:5432/h2k`;
    expect(redactUrl(url)).toBe('postgres://h2k:***@db.example:5432/h2k');
    expect(redactorFor(url)(`failed for ${secret} and ${enc}`)).toBe('failed for *** and ***');
    expect(redactUrl(`postgres://h2k@%2Frun%2Fpg/h2k?password=${enc}`)).toBe('postgres://h2k@%2Frun%2Fpg/h2k?password=***');
  });

  test('an unreachable database: E_QUEUE_UNREACHABLE at once (no socket, refused TCP port)', async () => {
    for (const url of [`postgres://h2k:${enc}@%2Fnonexistent%2Fh2k:5432/h2k`, `postgres://h2k:${enc}@127.0.0.1:1/h2k`]) {
      const t0 = Date.now();
      const err = await PgJobQueue.open({ url, hostName: 'x' }).then(() => undefined, (e: Error & { code?: string; hint?: string }) => e);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(err).toMatchObject({ code: 'E_QUEUE_UNREACHABLE' });
      expect(err!.message).toContain('h2k:***@');
      hidden(`${err!.message} ${err!.hint} ${JSON.stringify(err)} ${String(err!.stack)}`);
    }
  });

  test('a wrong password: E_QUEUE_AUTH, neither password shown', async () => {
    await freshDb();
    const url = server.url(`q${dbCount}`, secret);
    const err = await PgJobQueue.open({ url, hostName: 'x' }).then(() => undefined, (e: Error & { code?: string }) => e);
    expect(err).toMatchObject({ code: 'E_QUEUE_AUTH' });
    hidden(`${err!.message} ${JSON.stringify(err)} ${String(err!.stack)}`);
    expect(err!.message).not.toContain(PG_PASSWORD);
  });
});
