// The manifest workflow of a cluster: three real `h2k daemon --manifest-workflow-mode` processes
// (hosts a, b, c) on one PostgreSQL (test/helpers/postgres.mjs) and one shared manifest folder.
// Every manifest is taken by one host, every VM converted once (the jobs table as oracle, one
// output each, qemu-img compare on a sample), a batch's VMs spread over the hosts, and each
// manifest's report lands exactly once in processed/DATE/. A host killed with SIGKILL mid-VM:
// that VM is redone by another host after the lease, the report is still one; a take left
// half-done by a dead host is taken over; a host stopped mid-VM hands the VM to another; the
// run ledger names exactly one filer under a race.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runH2k } from './helpers/cli.js';
import { waitFor } from './helpers/daemon-harness.js';
import { compareImages } from './helpers/fixtures.js';
import { sqlRows } from './helpers/pg-sql.js';
import { seededBytes } from './helpers/seeded-bytes.js';
import { startPostgres, type PgServer } from './helpers/postgres.mjs';
import { PgRunLedger } from '../src/daemon/queue/pg-run-ledger.js';
import type { VmReport } from '../src/workflow/report.js';
import { dropManifest, seededDisk, singleManifest, workflowTree, type WorkflowTree } from './helpers/workflow-fixtures.js';
import { startWorkflowDaemon, type WorkflowDaemon } from './helpers/workflow-daemon.js';

const LEASE = 3;
let server: PgServer;
let url: string;
let tree: WorkflowTree;
const hosts = new Map<string, WorkflowDaemon>();
const staging = () => join(tree.root, 'staging');
const sql = <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) => sqlRows<R>(url, text, values);
const readJson = (f: string) => JSON.parse(readFileSync(f, 'utf8'));

/** Starts host `name` (one after another: they share the helper's config file). */
async function startHost(name: string): Promise<WorkflowDaemon> {
  const d = await startWorkflowDaemon(tree.root, tree.workflowDir, tree.outputDir, 2, { queue_url: url, host_name: name, lease_seconds: LEASE, stats_interval: 1 });
  hosts.set(name, d);
  return d;
}

/** Every file in processed/ (or failed/), all dates. */
function filed(state: 'processed' | 'failed'): string[] {
  const dir = join(tree.workflowDir, state);
  return existsSync(dir) ? readdirSync(dir).flatMap((day) => readdirSync(join(dir, day)).map((f) => join(day, f))) : [];
}

interface VmJobRow {
  id: string;
  state: string;
  host_name: string;
  attempts: number;
  vm: number;
}
/** The VM jobs of a manifest's (one) run, from the database. */
async function vmJobs(manifest: string): Promise<VmJobRow[]> {
  return sql<VmJobRow>(
    `SELECT j.id, j.state, j.host_name, j.attempts, (j.spec->'manifest'->>'vm')::int AS vm
       FROM h2k.jobs j JOIN h2k.manifest_runs r ON j.spec->'manifest'->>'run' = r.run_id
      WHERE r.manifest = $1 ORDER BY 5`,
    [manifest],
  );
}

function batch(prefix: string, n: number, source: (i: number) => string, convert: Record<string, unknown>): Record<string, unknown> {
  return {
    version: '1.0',
    batch: true,
    vms: Array.from({ length: n }, (_, i) => ({
      name: `${prefix}-${i + 1}`,
      pipeline: { load: { source_type: 'raw', source_path: source(i) }, convert: { output_format: 'qcow2', output_path: `${prefix}/`, ...convert }, validate: {} },
    })),
  };
}

beforeAll(async () => {
  server = await startPostgres();
  url = await server.createDatabase('manifests');
  tree = workflowTree('wf-cluster');
  mkdirSync(staging());
  for (const h of ['a', 'b', 'c']) await startHost(h);
}, 180_000);

afterAll(async () => {
  for (const d of hosts.values()) if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGKILL');
  await Promise.all([...hosts.values()].map((d) => d.exited));
  await server?.destroy();
  tree?.cleanup();
});

describe('h2k daemon --manifest-workflow-mode with queue_url', () => {
  test('3 hosts, 2 single manifests and a batch of 6: each VM converted once, each report once, the batch on several hosts', async () => {
    const single = seededDisk(tree.imagesDir, 'single', 8, 11);
    const raws = Array.from({ length: 6 }, (_, i) => seededDisk(tree.imagesDir, `fleet${i}`, 6, 100 + i).raw);
    dropManifest(tree.queueDir, 'web.yaml', singleManifest('../../images/single.vmdk', { convert: { output_format: 'qcow2' }, validate: {} }), staging());
    dropManifest(tree.queueDir, 'db.json', singleManifest('../../images/fleet0.raw', { convert: { output_format: 'qcow2', output_path: 'db.qcow2' } }, 'raw'), staging());
    dropManifest(tree.queueDir, 'fleet.json', batch('fleet', 6, (i) => `../../images/fleet${i}.raw`, { compress: 'zlib' }), staging());
    const manifests = ['web.yaml', 'db.json', 'fleet.json'];
    await waitFor(() => `3 reports; processed/: ${filed('processed').join(', ')}; failed/: ${filed('failed').join(', ')}`,
      () => manifests.every((m) => filed('processed').some((f) => f.endsWith(`/${m}.report.json`))) || undefined, 150_000, 250);

    // database: one run per manifest, filed; every VM job done on its first attempt
    const runs = await sql<{ manifest: string; vms: number; filed: boolean }>(`SELECT manifest, vms, filed_at IS NOT NULL AS filed FROM h2k.manifest_runs ORDER BY manifest`);
    expect(runs).toEqual([{ manifest: 'db.json', vms: 1, filed: true }, { manifest: 'fleet.json', vms: 6, filed: true }, { manifest: 'web.yaml', vms: 1, filed: true }]);
    const fleet = await vmJobs('fleet.json');
    expect(fleet.map((j) => [j.vm, j.state, j.attempts])).toEqual(Array.from({ length: 6 }, (_, i) => [i, 'done', 1]));
    const fleetHosts = new Set(fleet.map((j) => j.host_name));
    expect(fleetHosts.size, JSON.stringify(fleet)).toBeGreaterThanOrEqual(2);
    for (const m of ['web.yaml', 'db.json']) expect((await vmJobs(m)).map((j) => [j.state, j.attempts])).toEqual([['done', 1]]);
    // each manifest taken once (one take per manifest in all logs) and filed once
    const events = [...hosts.values()].flatMap((d) => d.events);
    for (const m of manifests) {
      expect(events.filter((e) => e.event === 'manifest_taken' && e.manifest === m), m).toHaveLength(1);
      expect(events.filter((e) => e.event === 'manifest_processed' && e.manifest === m), m).toHaveLength(1);
    }
    // disk: one report per manifest, the manifest beside it, nothing left in processing/ or failed/
    const processed = filed('processed');
    for (const m of manifests) {
      expect(processed.filter((f) => f.endsWith(`/${m}.report.json`)), m).toHaveLength(1);
      expect(processed.filter((f) => f.endsWith(`/${m}`)), m).toHaveLength(1);
    }
    expect(processed.filter((f) => /-\d+\.(json|yaml)/.test(f))).toEqual([]);
    expect(filed('failed')).toEqual([]);
    expect(readdirSync(join(tree.workflowDir, 'processing'))).toEqual([]);
    // the batch's report has every VM, whichever host ran it
    const day = processed.find((f) => f.endsWith('/fleet.json.report.json'))!;
    const report = readJson(join(tree.workflowDir, 'processed', day));
    expect(report).toMatchObject({ batch: true, status: 'completed', summary: { total: 6, completed: 6, failed: 0 } });
    expect(report.vms.map((v: { name: string }) => v.name)).toEqual(Array.from({ length: 6 }, (_, i) => `fleet-${i + 1}`));
    // outputs: exactly one per VM, no .partial; content checked by qemu-img on a sample
    expect(readdirSync(join(tree.outputDir, 'fleet')).sort()).toEqual(Array.from({ length: 6 }, (_, i) => `fleet-${i + 1}.qcow2`));
    for (const i of [0, 3, 5]) expect(compareImages(raws[i], join(tree.outputDir, 'fleet', `fleet-${i + 1}.qcow2`), 'raw', 'qcow2').code).toBe(0);
    expect(compareImages(single.raw, join(tree.outputDir, 'web.qcow2'), 'raw', 'qcow2').code).toBe(0);
    expect(compareImages(raws[0], join(tree.outputDir, 'db.qcow2'), 'raw', 'qcow2').code).toBe(0);
  }, 240_000);

  test('kill -9 of a host mid-VM: another host redoes that VM after the lease; one report, outputs verified', async () => {
    // Incompressible sources compressed with zlib: each VM takes long enough to be killed in.
    const big = join(tree.imagesDir, 'big.raw');
    writeFileSync(big, seededBytes(96 * 1024 * 1024, 7));
    dropManifest(tree.queueDir, 'heavy.json', batch('heavy', 4, () => '../../images/big.raw', { compress: 'zlib' }), staging());
    const victimJob = await waitFor('a heavy VM with its .partial written', async () => {
      const running = (await vmJobs('heavy.json')).filter((j) => j.state === 'running');
      return running.find((j) => existsSync(join(tree.outputDir, 'heavy', `heavy-${j.vm + 1}.qcow2.partial`)));
    }, 120_000, 50);
    const victim = hosts.get(victimJob.host_name)!;
    victim.proc.kill('SIGKILL');
    await victim.exited;
    await waitFor(() => `heavy.json's report; processed/: ${filed('processed').join(', ')}`, () => filed('processed').some((f) => f.endsWith('/heavy.json.report.json')) || undefined, 180_000, 250);

    const jobs = await vmJobs('heavy.json');
    expect(jobs.map((j) => j.state)).toEqual(['done', 'done', 'done', 'done']);
    const redone = jobs.find((j) => j.id === victimJob.id)!;
    expect(redone.attempts).toBe(2);
    expect(redone.host_name).not.toBe(victimJob.host_name);
    const events = [...hosts.values()].flatMap((d) => d.events);
    expect(events.filter((e) => e.event === 'manifest_processed' && e.manifest === 'heavy.json')).toHaveLength(1);
    expect(filed('processed').filter((f) => f.endsWith('/heavy.json.report.json'))).toHaveLength(1);
    expect(filed('processed').filter((f) => f.includes('/heavy-'))).toEqual([]);
    const report = readJson(join(tree.workflowDir, 'processed', filed('processed').find((f) => f.endsWith('/heavy.json.report.json'))!));
    expect(report).toMatchObject({ status: 'completed', summary: { total: 4, completed: 4 } });
    // one output per VM, none torn: the redone VM's and one other against the source
    expect(readdirSync(join(tree.outputDir, 'heavy')).sort()).toEqual(['heavy-1.qcow2', 'heavy-2.qcow2', 'heavy-3.qcow2', 'heavy-4.qcow2']);
    const others = [0, 1, 2, 3].filter((i) => i !== victimJob.vm);
    for (const i of [victimJob.vm, others[0]]) expect(compareImages(big, join(tree.outputDir, 'heavy', `heavy-${i + 1}.qcow2`), 'raw', 'qcow2').code).toBe(0);
    expect(readdirSync(join(tree.workflowDir, 'processing'))).toEqual([]);
  }, 300_000);

  test('a take whose host died after moving the manifest to processing/: taken over after the lease, filed once', async () => {
    // What a host killed right after its rename leaves: the manifest in processing/, no run, its take job running on a dead lease.
    writeFileSync(join(tree.workflowDir, 'processing', 'orphan.json'), JSON.stringify(singleManifest('../../images/single.raw', { convert: { output_format: 'qcow2' } }, 'raw')));
    const spec = { primary: join(tree.queueDir, 'orphan.json'), files: [join(tree.queueDir, 'orphan.json')], fileType: 'manifest', sizeBytes: 0, queuedAt: new Date().toISOString(), manifest: { kind: 'take', name: 'orphan.json' } };
    await sql(`INSERT INTO h2k.jobs (id, spec, state, host_name, claim_token, lease_until, attempts) VALUES ('take:orphan.json', $1, 'running', 'dead', 1, now() - interval '1 second', 1)`, [JSON.stringify(spec)]);
    await waitFor(() => `orphan.json's report; processed/: ${filed('processed').join(', ')}`, () => filed('processed').some((f) => f.endsWith('/orphan.json.report.json')) || undefined, 60_000, 250);
    const [take] = await sql<{ state: string; attempts: number; host_name: string }>(`SELECT state, attempts, host_name FROM h2k.jobs WHERE id = 'take:orphan.json'`);
    expect(take).toMatchObject({ state: 'done', attempts: 2 });
    expect(take.host_name).not.toBe('dead');
    expect((await vmJobs('orphan.json')).map((j) => [j.state, j.attempts])).toEqual([['done', 1]]);
    expect(filed('processed').filter((f) => f.endsWith('/orphan.json.report.json'))).toHaveLength(1);
    expect(compareImages(join(tree.imagesDir, 'single.raw'), join(tree.outputDir, 'orphan.qcow2'), 'raw', 'qcow2').code).toBe(0);
    expect(readdirSync(join(tree.workflowDir, 'processing'))).toEqual([]);
  }, 120_000);

  test('h2k ctl stop on a host mid-VM: its VM goes back to the queue and another host finishes it; the manifest stays in the run', async () => {
    dropManifest(tree.queueDir, 'calm.json', batch('calm', 2, () => '../../images/big.raw', { compress: 'zlib' }), staging());
    const job = await waitFor('a calm VM with its .partial written', async () => {
      const running = (await vmJobs('calm.json')).filter((j) => j.state === 'running');
      return running.find((j) => existsSync(join(tree.outputDir, 'calm', `calm-${j.vm + 1}.qcow2.partial`)));
    }, 120_000, 50);
    const stopped = hosts.get(job.host_name)!;
    const r = await runH2k(['ctl', 'stop', '--output-dir', tree.outputDir, '--host', job.host_name, '--json'], { timeout: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(await stopped.exited).toEqual({ code: 0, signal: null });
    await waitFor(() => `calm.json's report; processed/: ${filed('processed').join(', ')}`, () => filed('processed').some((f) => f.endsWith('/calm.json.report.json')) || undefined, 180_000, 250);
    const after = (await vmJobs('calm.json')).find((j) => j.id === job.id)!;
    expect(after).toMatchObject({ state: 'done', attempts: 2 });
    expect(after.host_name).not.toBe(job.host_name);
    // a cluster host hands its VMs back: it never moves the manifest back to to_be_processed/
    expect(stopped.events.some((e) => e.event === 'manifest_interrupted')).toBe(false);
    expect(filed('processed').filter((f) => f.endsWith('/calm.json.report.json'))).toHaveLength(1);
    expect(readdirSync(join(tree.outputDir, 'calm')).sort()).toEqual(['calm-1.qcow2', 'calm-2.qcow2']);
    expect(compareImages(join(tree.imagesDir, 'big.raw'), join(tree.outputDir, 'calm', `calm-${job.vm + 1}.qcow2`), 'raw', 'qcow2').code).toBe(0);
  }, 240_000);

  test('h2k ctl --queue-url pause|resume reaches manifest-mode hosts: nothing is taken while paused; stats.json names the host and the cluster queue', async () => {
    const live = [...hosts.entries()].filter(([, d]) => d.proc.exitCode === null && d.proc.signalCode === null);
    expect(live.length).toBeGreaterThanOrEqual(1);
    const ctl = async (...args: string[]) => {
      const r = await runH2k(['ctl', '--queue-url', url, ...args], { timeout: 30_000 });
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    };
    const pausedBefore = live.map(([, d]) => d.events.filter((e) => e.event === 'daemon_paused').length);
    await ctl('pause');
    await waitFor('every live host paused', () => live.every(([, d], i) => d.events.filter((e) => e.event === 'daemon_paused').length > pausedBefore[i]) || undefined, 10_000, 50);
    dropManifest(tree.queueDir, 'held.json', singleManifest('../../images/fleet1.raw', { convert: { output_format: 'qcow2', output_path: 'held.qcow2' } }, 'raw'), staging());
    await waitFor('held.json queued as a take job', async () => ((await sql(`SELECT 1 FROM h2k.jobs WHERE id LIKE 'take:%held.json'`)).length ? true : undefined), 30_000, 100);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await sql<{ state: string }>(`SELECT state FROM h2k.jobs WHERE id LIKE 'take:%held.json'`)).map((j) => j.state)).toEqual(['waiting']);
    const st = JSON.parse(await ctl('--json', 'status')).cluster as { desired: string; hosts: { hostName: string; alive: boolean; state: string }[] };
    expect(st.desired).toBe('paused');
    for (const [name] of live) expect(st.hosts.find((h) => h.hostName === name)).toMatchObject({ alive: true, state: 'paused' });
    // each host's stats.json: its name and the whole cluster's queue (the held take job waits)
    const [name] = live[0];
    const stats = await waitFor('stats.json with the cluster queue', () => {
      const s = readJson(join(tree.outputDir, '.daemon', name, 'stats.json'));
      return s.cluster_queue?.waiting >= 1 ? s : undefined;
    }, 15_000, 200);
    expect(stats.host_name).toBe(name);
    await ctl('resume');
    await waitFor(() => `held.json's report; processed/: ${filed('processed').join(', ')}`, () => filed('processed').some((f) => f.endsWith('/held.json.report.json')) || undefined, 120_000, 250);
    expect(compareImages(join(tree.imagesDir, 'fleet1.raw'), join(tree.outputDir, 'held.qcow2'), 'raw', 'qcow2').code).toBe(0);
  }, 180_000);

  test('the run ledger: of 24 VMs recorded at once from 4 connections exactly one is named filer; one unfiled run per name', async () => {
    const ledgers = await Promise.all([0, 1, 2, 3].map(() => PgRunLedger.open({ url })));
    try {
      const run = (await ledgers[0].begin('race.json', 24))!;
      expect(run).toMatchObject({ name: 'race.json', vms: 24 });
      expect(await ledgers[1].begin('race.json', 3)).toBeUndefined();
      const report = (i: number) => ({ name: `vm-${i}`, status: 'completed' }) as unknown as VmReport;
      const filer = await Promise.all(Array.from({ length: 24 }, (_, i) => ledgers[i % 4].record(run.run, i, report(i), `job-${i}`)));
      expect(filer.filter(Boolean)).toHaveLength(1);
      const st = (await ledgers[2].state(run.run))!;
      expect(st.reports.size).toBe(24);
      expect(st.filer).toBe(`job-${filer.indexOf(true)}`);
      // a VM redone after its host died records nothing new and is not the filer
      expect(await ledgers[3].record(run.run, 5, report(5), 'job-5-again')).toBe(false);
      await ledgers[0].filed(run.run);
      expect((await ledgers[1].state(run.run))!.filed).toBe(true);
      expect(await ledgers[1].active('race.json')).toBeUndefined();
      expect((await ledgers[1].begin('race.json', 1))?.run).not.toBe(run.run);
    } finally {
      await Promise.all(ledgers.map((l) => l.close()));
    }
  }, 60_000);
});
