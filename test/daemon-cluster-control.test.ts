// Real `h2k daemon` hosts on one throwaway PostgreSQL (test/helpers/postgres.mjs): the cluster
// paused, resumed and drained through its database (`h2k ctl --queue-url`), a host started later
// starting paused, the per-host control socket still obeyed; stats.json and the Prometheus
// endpoint of a cluster host (host label, the cluster's queue). The jobs table, the control
// sockets, stats.json and the metrics text (strict parser + promtool) are the oracles.
// Outputs on a shared output_dir: two VMs of one name converted at once by two hosts get two
// directories; a host frozen past its lease publishes nothing over the result of the host that
// took its job over (qemu-img compare, inodes and the jobs table as oracles).
// A single-host daemon's metrics keep no host label: test/service-metrics*.test.ts hold those.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { collectDaemonLog, waitFor, type DaemonLog } from './helpers/daemon-harness.js';
import { h2kBin, repoRoot, runH2k } from './helpers/cli.js';
import { compareImages, tempDir } from './helpers/fixtures.js';
import { claimOutputDir, jobKey, makeStaging, OWNER_FILE, publishStaged, releaseOutputDir } from '../src/daemon/output-publish.js';
import { localDate } from '../src/util/local-date.js';
import { parsePromText, promtoolCheck, valueOf } from './helpers/prom-text.js';
import { seededBytes } from './helpers/seeded-bytes.js';
import { sqlRows } from './helpers/pg-sql.js';
import { startPostgres, type PgServer } from './helpers/postgres.mjs';

const LEASE = 2;
const fx = tempDir('h2k-cluster-ctl');
const watchDir = join(fx.dir, 'watch');
const outputDir = join(fx.dir, 'out');
const staging = join(fx.dir, 'staging');
let server: PgServer;
let url: string;
interface Host { host: string; proc: ChildProcess; log: DaemonLog; exited: Promise<number | null> }
const hosts: Host[] = [];

function startHost(host: string): Host {
  const proc = spawn(process.execPath, [h2kBin, 'daemon', '--config', join(fx.dir, 'daemon.yaml'), '--log-format', 'json', '--host-name', host, '--metrics-listen', '127.0.0.1:0'], {
    cwd: repoRoot, env: { ...process.env, H2K_QUEUE_URL: url }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const h = { host, proc, log: collectDaemonLog(proc), exited: new Promise<number | null>((r) => proc.on('exit', (code) => r(code))) };
  hosts.push(h);
  return h;
}
const event = (h: Host, name: string, from = 0) => h.log.events.slice(from).find((e) => e.event === name);
const started = (h: Host) => waitFor(() => `${h.host} started\n${h.log.stderr().slice(-3000)}`, () => event(h, 'daemon_started'), 60_000);
const sql = <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) => sqlRows<R>(url, text, values);
const ctl = async (...args: string[]) => {
  const r = await runH2k(['ctl', ...args], { timeout: 30_000 });
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
};
function drop(name: string, bytes: Buffer): void {
  writeFileSync(join(staging, name), bytes);
  renameSync(join(staging, name), join(watchDir, name));
}
const jobStates = () => sql<{ id: string; state: string; host_name: string | null; attempts: number }>(`SELECT id, state, host_name, attempts FROM h2k.jobs ORDER BY id`);

beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase('control');
  for (const d of [watchDir, outputDir, staging]) mkdirSync(d, { recursive: true });
  writeFileSync(join(fx.dir, 'daemon.yaml'), stringify({
    watch_dir: watchDir, output_dir: outputDir, file_stable_timeout: 0.3, max_concurrent_jobs: 1, stats_interval: 1,
    lease_seconds: LEASE, out_format: 'qcow2', archive_processed: true,
    // zlib on one thread: conversions last long enough to be caught mid-way (SIGSTOP) on a quiet machine
    compression: 'zlib', threads: 1,
  }));
}, 120_000);
afterAll(async () => {
  for (const h of hosts) if (h.proc.exitCode === null && h.proc.signalCode === null) h.proc.kill('SIGKILL');
  await Promise.all(hosts.map((h) => h.exited));
  await server?.destroy();
  fx.cleanup();
});

describe('h2k ctl --queue-url pause|resume|drain', () => {
  test('pause reaches every host within a second and hosts started later; the socket still works per host; drain: no new jobs, running ones finish, exit 0', async () => {
    const [a, b] = [startHost('a'), startHost('b')];
    await Promise.all([a, b].map(started));
    const tCtl = Date.now();
    expect(await ctl('--queue-url', url, 'pause')).toMatch(/Cluster paused: hosts a, b/);
    const t0 = Date.now(); // the command is committed (and notified) before ctl exits
    const paused = await Promise.all([a, b].map((h) => waitFor(`${h.host} paused`, () => event(h, 'daemon_paused'), 10_000, 20)));
    const pauseLatency = Math.max(0, ...paused.map((e) => Date.parse(e.time) - t0));
    expect(pauseLatency).toBeLessThan(1500);
    // c starts while the cluster is paused: paused before it could claim anything
    const c = startHost('c');
    await started(c);
    const cEvents = c.log.events.map((e) => e.event);
    expect(cEvents.indexOf('daemon_paused')).toBeGreaterThanOrEqual(0);
    expect(cEvents.indexOf('daemon_paused')).toBeLessThan(cEvents.indexOf('daemon_started'));
    // three images wait in the queue; no host takes one
    for (let i = 0; i < 3; i++) drop(`vm${i}.img`, seededBytes(256 * 1024, 40 + i));
    await waitFor('3 jobs queued', async () => (await jobStates()).length === 3 || undefined, 30_000, 100);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await jobStates()).map((j) => j.state)).toEqual(['waiting', 'waiting', 'waiting']);
    expect(hosts.flatMap((h) => h.log.events.filter((e) => e.event === 'job_started'))).toEqual([]);
    // status: each host's state as it reported it, and what the cluster asks
    const st = JSON.parse(await ctl('--queue-url', url, '--json', 'status')).cluster as { desired: string; hosts: { hostName: string; state: string; desired: string }[] };
    expect(st.desired).toBe('paused');
    expect(st.hosts.map((h) => [h.hostName, h.state, h.desired])).toEqual([['a', 'paused', 'paused'], ['b', 'paused', 'paused'], ['c', 'paused', 'paused']]);
    expect(await ctl('--queue-url', url, 'status')).toMatch(/Host a: paused .*\n.*Host b: paused .*\n.*Host c: paused/);
    // an unknown host: a usage error (exit 2) naming the hosts there are
    const bad = await runH2k(['ctl', '--queue-url', url, '--host', 'nosuch', 'pause'], { timeout: 30_000 });
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/E_USAGE[\s\S]*no host nosuch[\s\S]*hosts: a, b, c/)]);

    // stats.json and the Prometheus endpoint of host a: its name, the whole cluster's queue
    const stats = await waitFor('a stats.json shows the cluster queue', () => {
      const file = join(outputDir, '.daemon', 'a', 'stats.json');
      const j = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { host_name?: string; state: string; cluster_queue?: { waiting: number; running: number } }) : undefined;
      return j?.cluster_queue?.waiting === 3 ? j : undefined;
    }, 10_000, 100);
    expect(stats).toMatchObject({ host_name: 'a', state: 'paused', current_queue_depth: 3, cluster_queue: { waiting: 3, running: 0 } });
    const address = String(event(a, 'metrics_listening')!.address);
    const text = await (await fetch(`http://${address}/metrics`)).text();
    const fams = parsePromText(text);
    // promtool parses it; its linter may flag only prom-client's own nodejs_active_*_total gauges
    const check = promtoolCheck(text);
    expect(check.code, check.output).not.toBe(1);
    for (const line of check.output.split('\n').filter(Boolean)) expect(line).toMatch(/^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/);
    expect(valueOf(fams, 'h2k_cluster_queue_depth', { host: 'a' })).toBe(3);
    expect(valueOf(fams, 'h2k_cluster_jobs_running', { host: 'a' })).toBe(0);
    expect(valueOf(fams, 'h2k_paused', { host: 'a' })).toBe(1);
    expect(valueOf(fams, 'h2k_processed_total', { host: 'a', file_type: 'img' })).toBe(0);
    // every series of a cluster host carries its host label, Node's own included
    const unlabelled = [...fams.values()].flatMap((f) => f.samples).filter((x) => x.labels.host !== 'a');
    expect(unlabelled.map((x) => x.name)).toEqual([]);
    expect(valueOf(fams, 'process_cpu_seconds_total', { host: 'a' })).toBeGreaterThan(0);

    // host b alone resumed through its control socket: it does the three jobs
    expect(await ctl('--output-dir', outputDir, '--host', 'b', 'resume')).toMatch(/resumed/);
    const done = await waitFor('3 jobs done', async () => {
      const rows = await jobStates();
      return rows.every((r) => r.state === 'done') ? rows : undefined;
    }, 60_000, 100);
    expect(done.map((r) => r.host_name)).toEqual(['b', 'b', 'b']);
    const bText = await (await fetch(`http://${String(event(b, 'metrics_listening')!.address)}/metrics`)).text();
    expect(valueOf(parsePromText(bText), 'h2k_processed_total', { host: 'b', file_type: 'img' })).toBe(3);
    expect(valueOf(parsePromText(bText), 'h2k_cluster_queue_depth', { host: 'b' })).toBe(0);

    // c drained through the database: it had nothing running, exits 0 at once
    expect(await ctl('--queue-url', url, '--host', 'c', 'drain')).toMatch(/Host c draining/);
    expect(await c.exited, c.log.stderr().slice(-3000)).toBe(0);
    // the whole cluster resumed
    await ctl('--queue-url', url, 'resume');
    await waitFor('a resumed', () => event(a, 'daemon_resumed'), 10_000, 20);
    await waitFor('a and b report running', async () => {
      const s = JSON.parse(await ctl('--queue-url', url, '--json', 'status')).cluster as typeof st;
      return s.hosts.filter((h) => h.hostName !== 'c').every((h) => h.state === 'running' && h.desired === 'running') || undefined;
    }, 10_000, 200);

    // a job running when the cluster is drained is finished by its host; then every host exits 0
    drop('big.img', seededBytes(96 * 1024 * 1024, 7, true));
    const [holder] = await waitFor('big.img claimed', async () => {
      const rows = await sql<{ host_name: string }>(`SELECT host_name FROM h2k.jobs WHERE id = $1 AND state = 'running'`, [join(watchDir, 'big.img')]);
      return rows.length ? rows : undefined;
    }, 60_000, 20);
    // held mid-conversion (SIGSTOP, well within its lease) while the drain is given: the drain
    // certainly finds the job running
    const holderHost = hosts.find((h) => h.host === holder.host_name)!;
    await waitFor('big partial written', () => outputs().some((f) => f.includes('.h2k-staging-') && f.endsWith('big.qcow2.partial')) || undefined, 60_000, 5);
    holderHost.proc.kill('SIGSTOP');
    try {
      expect(await ctl('--queue-url', url, 'drain')).toMatch(/Cluster draining: hosts a, b/);
    } finally {
      holderHost.proc.kill('SIGCONT');
    }
    expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
    const [big] = await sql<{ state: string; host_name: string; attempts: number }>(`SELECT state, host_name, attempts FROM h2k.jobs WHERE id = $1`, [join(watchDir, 'big.img')]);
    expect(big).toEqual({ state: 'done', host_name: holder.host_name, attempts: 1 });
    const drained = event(holderHost, 'daemon_draining')!;
    const finished = holderHost.log.events.find((e) => e.event === 'job_succeeded' && e.file === join(watchDir, 'big.img'))!;
    expect(Date.parse(drained.time)).toBeLessThanOrEqual(Date.parse(finished.time));
    console.log(`cluster pause logged by both hosts ${Math.max(...paused.map((e) => Date.parse(e.time))) - tCtl} ms after ctl was started (node start-up included), ${pauseLatency} ms after it exited`);
  }, 120_000);
});

/** every file under output_dir's dated folders, relative (the hosts' .daemon state left out) */
function outputs(): string[] {
  return existsSync(outputDir) ? (readdirSync(outputDir, { recursive: true }) as string[]).filter((f) => !f.startsWith('.daemon') && statSync(join(outputDir, f)).isFile()) : [];
}

describe('outputs on a shared output_dir', () => {
  test('claims: two jobs of one vm name get <vm> and <vm>-2 from two hosts; every attempt of one job the same; a finished single-host output is left alone', async () => {
    const day = join(fx.dir, 'claims', localDate());
    const jobA = { id: '/w/x/web.img', queuedAt: '2026-12-03T10:00:00.000Z' };
    const jobB = { id: '/w/y/web.img', queuedAt: '2026-12-03T10:00:00.000Z' };
    // two hosts (two `taken` sets) at the same moment
    const [ca, cb] = await Promise.all([claimOutputDir(day, 'web', jobKey(jobA), new Set()), claimOutputDir(day, 'web', jobKey(jobB), new Set())]);
    expect([ca.dir, cb.dir].map((d) => d.slice(day.length + 1)).sort()).toEqual(['web', 'web-2']);
    expect(readFileSync(join(ca.dir, OWNER_FILE), 'utf8')).toBe(jobKey(jobA));
    // the same job on another host (its lease taken over): the same directory, not published yet
    expect(await claimOutputDir(day, 'web', jobKey(jobA), new Set())).toEqual({ dir: ca.dir, published: false });
    writeFileSync(join(ca.dir, 'report.json'), '{}');
    expect(await claimOutputDir(day, 'web', jobKey(jobA), new Set())).toEqual({ dir: ca.dir, published: true });
    // the same file dropped again later (a new queued time) is another job
    expect((await claimOutputDir(day, 'web', jobKey({ ...jobA, queuedAt: '2026-12-03T11:00:00.000Z' }), new Set())).dir).toBe(join(day, 'web-3'));
    // a finished output with no owner file (a single host's) is never taken
    mkdirSync(join(day, 'db'), { recursive: true });
    writeFileSync(join(day, 'db', 'report.json'), '{}');
    expect((await claimOutputDir(day, 'db', jobKey(jobA), new Set())).dir).toBe(join(day, 'db-2'));
    // a job that failed for good gives its directory back, with a killed attempt's staging
    const failed = await claimOutputDir(day, 'bad', jobKey(jobA), new Set());
    writeFileSync(join(await makeStaging(failed.dir, 'dead'), 'bad.qcow2.partial'), 'x');
    await releaseOutputDir(failed.dir);
    expect(existsSync(failed.dir)).toBe(false);
    expect((await claimOutputDir(day, 'bad', jobKey(jobB), new Set())).dir).toBe(failed.dir);
  });

  test('publish: the second attempt of a job finds the first published and drops its copy (the first untouched); one that died halfway is completed', async () => {
    const day = join(fx.dir, 'publish', localDate());
    const { dir } = await claimOutputDir(day, 'vm', 'k', new Set());
    const stage = async (host: string, content: string) => {
      const s = await makeStaging(dir, host);
      writeFileSync(join(s, 'vm.qcow2'), content);
      writeFileSync(join(s, 'vm.xml'), `<domain>${content}</domain>`);
      return s;
    };
    const first = await stage('a', 'first');
    const second = await stage('b', 'second');
    expect(await publishStaged(first, dir, [join(first, 'vm.qcow2'), join(first, 'vm.xml')], 5000)).toBe(true);
    const ino = statSync(join(dir, 'vm.qcow2')).ino;
    writeFileSync(join(dir, 'report.json'), '{}');
    expect(await publishStaged(second, dir, [join(second, 'vm.qcow2'), join(second, 'vm.xml')], 5000)).toBe(false);
    expect(readFileSync(join(dir, 'vm.qcow2'), 'utf8')).toBe('first');
    expect(statSync(join(dir, 'vm.qcow2')).ino).toBe(ino);
    expect(readdirSync(dir).sort()).toEqual([OWNER_FILE, 'report.json', 'vm.qcow2', 'vm.xml'].sort());
    // an attempt that linked its disk and died before its report: the next one completes the job
    const { dir: d2 } = await claimOutputDir(day, 'vm2', 'k2', new Set());
    const dead = await makeStaging(d2, 'a');
    writeFileSync(join(dead, 'vm2.qcow2'), 'dead');
    linkSync(join(dead, 'vm2.qcow2'), join(d2, 'vm2.qcow2'));
    const next = await makeStaging(d2, 'b');
    writeFileSync(join(next, 'vm2.qcow2'), 'next');
    const t0 = Date.now();
    expect(await publishStaged(next, d2, [join(next, 'vm2.qcow2')], 300)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(readFileSync(join(d2, 'vm2.qcow2'), 'utf8')).toBe('next');
    expect(readdirSync(d2).sort()).toEqual([OWNER_FILE, 'vm2.qcow2'].sort()); // the dead attempt's staging is gone too
  });

  test('two hosts converting two different VMs of one name at once: <vm>/ and <vm>-2/, each its own content; a host frozen past its lease publishes nothing over the redo', async () => {
    // fresh hosts on a clean queue (the first test drained its hosts)
    const [d, e] = [startHost('d'), startHost('e')];
    await Promise.all([d, e].map(started));
    await ctl('--queue-url', url, 'pause');
    const web1 = seededBytes(48 * 1024 * 1024, 11, true);
    const web2 = seededBytes(48 * 1024 * 1024, 12, true);
    drop('web.img', web1);
    drop('web.raw', web2);
    await waitFor('both web jobs queued', async () => (await jobStates()).filter((j) => j.id.includes('/web.') && j.state === 'waiting').length === 2 || undefined, 30_000, 100);
    // d takes one and is held mid-conversion (SIGSTOP, shorter than its lease); e takes the other:
    // two hosts converting one vm name at once, the case where both used to pick <vm>/
    await ctl('--queue-url', url, '--host', 'd', 'resume');
    await waitFor('d converts a web job', () => outputs().some((f) => f.endsWith('web.qcow2.partial')) || undefined, 30_000, 5);
    d.proc.kill('SIGSTOP');
    await ctl('--queue-url', url, '--host', 'e', 'resume');
    const both = await waitFor('e runs the other web job', async () => {
      const rows = (await jobStates()).filter((j) => j.state === 'running');
      return rows.length === 2 ? rows : undefined;
    }, 30_000, 10);
    d.proc.kill('SIGCONT');
    expect(both.map((j) => j.host_name).sort()).toEqual(['d', 'e']);
    await ctl('--queue-url', url, 'resume');
    await waitFor('both web jobs done', async () => (await jobStates()).filter((j) => j.id.includes('/web.')).every((r) => r.state === 'done') || undefined, 60_000, 100);
    const webOut = outputs().filter((f) => /\/web(-2)?\/web\.qcow2$/.test(f)).sort();
    expect(webOut.map((f) => f.split('/').slice(-2).join('/'))).toEqual(['web-2/web.qcow2', 'web/web.qcow2']);
    // each output holds its own source (which is which: report.json says)
    for (const f of webOut) {
      const report = JSON.parse(readFileSync(join(outputDir, f.replace(/web\.qcow2$/, 'report.json')), 'utf8')) as { source: { filename: string } };
      const src = join(staging, `check-${report.source.filename}`);
      writeFileSync(src, report.source.filename === 'web.img' ? web1 : web2);
      expect(compareImages(src, join(outputDir, f), 'raw', 'qcow2').code, f).toBe(0);
    }

    // frozen mid-conversion (SIGSTOP) past its lease: the other host redoes and publishes; the
    // frozen one, thawed, must not publish a second copy nor touch the first
    const big = seededBytes(96 * 1024 * 1024, 9, true);
    drop('frozen.img', big);
    const id = join(watchDir, 'frozen.img');
    const [holder] = await waitFor('frozen.img claimed', async () => {
      const rows = await sql<{ host_name: string }>(`SELECT host_name FROM h2k.jobs WHERE id = $1 AND state = 'running'`, [id]);
      return rows.length ? rows : undefined;
    }, 60_000, 20);
    const frozen = hosts.find((h) => h.host === holder.host_name)!;
    const other = frozen === d ? e : d;
    await waitFor('frozen partial written', () => outputs().some((f) => f.includes('.h2k-staging-') && f.endsWith('frozen.qcow2.partial')) || undefined, 60_000, 10);
    frozen.proc.kill('SIGSTOP');
    const [redo] = await waitFor('frozen.img redone by the other host', async () => {
      const rows = await sql<{ host_name: string; attempts: number }>(`SELECT host_name, attempts FROM h2k.jobs WHERE id = $1 AND state = 'done'`, [id]);
      return rows.length ? rows : undefined;
    }, 90_000, 100);
    expect(redo).toEqual({ host_name: other.host, attempts: 2 });
    const [published] = outputs().filter((f) => f.endsWith('/frozen.qcow2'));
    const before = statSync(join(outputDir, published));
    const from = frozen.log.events.length;
    frozen.proc.kill('SIGCONT');
    // the thawed host learns its lease is gone and gives the job up
    await waitFor('thawed host cancels', () => frozen.log.events.slice(from).find((ev) => ev.event === 'job_cancelled' || ev.event === 'job_lease_lost'), 30_000, 50);
    await waitFor('thawed host settles', () => frozen.log.events.slice(from).find((ev) => ev.event === 'job_cancelled'), 30_000, 50);
    const after = statSync(join(outputDir, published));
    expect([after.ino, after.mtimeMs, after.size]).toEqual([before.ino, before.mtimeMs, before.size]);
    expect(outputs().filter((f) => f.includes('frozen')).map((f) => f.split('/').slice(-2).join('/')).sort()).toEqual(['frozen/.h2k-job', 'frozen/frozen.qcow2', 'frozen/report.json']);
    const src = join(staging, 'check-frozen.raw');
    writeFileSync(src, big);
    expect(compareImages(src, join(outputDir, published), 'raw', 'qcow2').code).toBe(0);
    expect(frozen.log.events.slice(from).filter((ev) => ev.event === 'job_succeeded')).toEqual([]);
  }, 120_000);
});
