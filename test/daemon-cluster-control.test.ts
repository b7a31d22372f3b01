// Real `h2k daemon` hosts on one throwaway PostgreSQL (test/helpers/postgres.mjs): the cluster
// paused, resumed and drained through its database (`h2k ctl --queue-url`), a host started later
// starting paused, the per-host control socket still obeyed; stats.json and the Prometheus
// endpoint of a cluster host (host label, the cluster's queue). The jobs table, the control
// sockets, stats.json and the metrics text (strict parser + promtool) are the oracles.
// A single-host daemon's metrics keep no host label: test/service-metrics*.test.ts hold those.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { collectDaemonLog, waitFor, type DaemonLog } from './helpers/daemon-harness.js';
import { h2kBin, repoRoot, runH2k } from './helpers/cli.js';
import { tempDir } from './helpers/fixtures.js';
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
    expect(await ctl('--queue-url', url, 'drain')).toMatch(/Cluster draining: hosts a, b/);
    expect(await Promise.all([a.exited, b.exited])).toEqual([0, 0]);
    const [big] = await sql<{ state: string; host_name: string; attempts: number }>(`SELECT state, host_name, attempts FROM h2k.jobs WHERE id = $1`, [join(watchDir, 'big.img')]);
    expect(big).toEqual({ state: 'done', host_name: holder.host_name, attempts: 1 });
    const holderHost = hosts.find((h) => h.host === holder.host_name)!;
    expect(event(holderHost, 'daemon_draining')).toBeDefined();
    expect(event(holderHost, 'job_succeeded')).toBeDefined();
    console.log(`cluster pause reached both hosts ${pauseLatency} ms after ctl exited`);
  }, 120_000);
});
