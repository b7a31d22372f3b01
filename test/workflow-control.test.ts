// The manifest workflow daemon's operator surface, through the real daemon process and the real
// `h2k ctl`: status (manifests queued/processing/processed/failed, running VMs), stats ==
// stats.json == Prometheus scrape, SIGUSR1, pause/resume, stop (running manifest cancelled, its
// outputs removed, manifest back in to_be_processed/) and drain (finishes, then exits).
// Oracles: the directory tree, qemu-img compare on the outputs, the metrics text.
import { createCipheriv } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runH2k } from './helpers/cli.js';
import { waitFor } from './helpers/daemon-harness.js';
import { compareImages } from './helpers/fixtures.js';
import { parsePromText, promtoolCheck, valueOf } from './helpers/prom-text.js';
import { dropManifest, seededDisk, singleManifest, workflowTree, type WorkflowTree } from './helpers/workflow-fixtures.js';
import { startWorkflowDaemon, type WorkflowDaemon } from './helpers/workflow-daemon.js';

const MiB = 1024 * 1024;
const SLOW_VMS = 6;
let tree: WorkflowTree;
let daemon: WorkflowDaemon;
let small: { raw: string; vmdk: string };
let noisy: string;
const staging = () => join(tree.root, 'staging');
const readJson = (f: string) => JSON.parse(readFileSync(f, 'utf8'));

/** Incompressible but reproducible bytes (AES-CTR keystream): zlib has real work to do on them. */
function noisyRaw(path: string, mib: number, seed: number): string {
  const key = Buffer.alloc(16, seed);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16, 0));
  writeFileSync(path, Buffer.concat([cipher.update(Buffer.alloc(mib * MiB)), cipher.final()]));
  return path;
}

async function ctl(command: string): Promise<Record<string, any>> {
  const r = await runH2k(['ctl', command, '--output-dir', tree.outputDir, '--json']);
  if (r.code !== 0) throw new Error(`h2k ctl ${command} exited ${r.code}: ${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** A batch that keeps one job slot busy for a few seconds: VMs converted one after another. */
function slowBatch(): Record<string, unknown> {
  return {
    version: '1.0',
    batch: true,
    vms: Array.from({ length: SLOW_VMS }, (_, i) => ({
      name: `slow-${i + 1}`,
      pipeline: {
        load: { source_type: 'raw', source_path: '../../images/noisy.raw' },
        convert: { output_format: 'qcow2', compress: 'zlib', output_path: 'slow/' },
        validate: {},
      },
    })),
  };
}

const outputsUnder = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);

beforeAll(async () => {
  tree = workflowTree('wf-control');
  mkdirSync(staging());
  small = seededDisk(tree.imagesDir, 'small', 4, 404);
  noisy = noisyRaw(join(tree.imagesDir, 'noisy.raw'), 24, 9);
  daemon = await startWorkflowDaemon(tree.root, tree.workflowDir, tree.outputDir, 1, { metrics_listen: '127.0.0.1:0', stats_interval: 0.5 });
}, 60_000);

afterAll(async () => {
  await daemon?.stop();
  tree?.cleanup();
});

describe('h2k ctl against the manifest workflow daemon', () => {
  it('status, pause/resume, stats == stats.json == metrics, SIGUSR1', async () => {
    const idle = await ctl('status');
    expect(idle).toMatchObject({
      status: 'ok', mode: 'manifest_workflow', state: 'running', paused: false, pid: daemon.proc.pid,
      watch_dir: tree.queueDir, output_dir: tree.outputDir,
      manifests: { queued: 0, processing: [], processed: 0, failed: 0 }, running_vms: [],
    });
    // The human form works too.
    const human = await runH2k(['ctl', 'status', '--output-dir', tree.outputDir]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('Status: RUNNING');
    expect(human.stdout).toContain('Manifests: 0 queued, 0 processing, 0 processed, 0 failed');

    expect(await ctl('pause')).toMatchObject({ status: 'ok', message: 'Daemon paused' });
    dropManifest(tree.queueDir, 'small.yaml', singleManifest('../../images/small.vmdk', { convert: {}, validate: {} }), staging());
    // Paused: past the 1 s stability window the manifest is still waiting.
    await new Promise((r) => setTimeout(r, 2500));
    expect(existsSync(join(tree.queueDir, 'small.yaml'))).toBe(true);
    expect(await ctl('status')).toMatchObject({ state: 'paused', paused: true, manifests: { queued: 1, processing: [] } });
    expect(daemon.events.some((e) => e.event === 'manifest_taken')).toBe(false);

    await ctl('resume');
    await daemon.waitForEvent('manifest_processed', (e) => e.manifest === 'small.yaml');
    expect(compareImages(small.raw, join(tree.outputDir, 'small.qcow2'), 'raw', 'qcow2').code).toBe(0);

    const stats = (await ctl('stats')).stats;
    expect(stats).toMatchObject({ state: 'running', total_processed: 1, total_failed: 0, current_queue_depth: 0, in_flight: 0 });
    expect(stats.by_file_type.manifest).toMatchObject({ processed: 1, failed: 0 });
    expect(stats.total_bytes_written).toBe(readFileSync(join(tree.outputDir, 'small.qcow2')).length);
    const statsFile = join(tree.outputDir, '.daemon', 'stats.json');
    const onDisk = await waitFor('stats.json with the processed manifest', () => {
      const s = existsSync(statsFile) ? readJson(statsFile) : undefined;
      return s?.total_processed === 1 ? s : undefined;
    });
    expect(onDisk.by_file_type).toEqual(stats.by_file_type);
    const address = (await daemon.waitForEvent('metrics_listening')).address as string;
    const text = await (await fetch(`http://${address}/metrics`)).text();
    expect(text).toMatch(/^h2k_processed_total\{file_type="manifest"\} 1$/m);
    expect(text).toMatch(/^h2k_queue_depth 0$/m);
    expect(text).toMatch(/^h2k_job_duration_seconds_count\{file_type="manifest"\} 1$/m);
    // The watch-folder daemon's names, parsed by promtool (test/daemon-metrics.test.ts has the rest).
    const check = promtoolCheck(text);
    expect(check.code, check.output).not.toBe(1);
    const families = parsePromText(text);
    expect(valueOf(families, 'h2k_job_output_bytes_count', { file_type: 'manifest' })).toBe(1);
    expect(valueOf(families, 'h2k_job_output_bytes_sum', { file_type: 'manifest' })).toBe(stats.total_bytes_written);
    expect(valueOf(families, 'h2k_output_bytes_total', { file_type: 'manifest' })).toBe(stats.total_bytes_written);
    expect(valueOf(families, 'h2k_failed_total', { file_type: 'manifest' })).toBe(0);
    for (const [name, v] of [['h2k_jobs_running', 0], ['h2k_paused', 0], ['h2k_draining', 0], ['h2k_build_info', 1]] as const) expect(valueOf(families, name), name).toBe(v);
    for (const name of ['process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds']) expect(families.has(name), name).toBe(true);

    daemon.proc.kill('SIGUSR1');
    const logged = await daemon.waitForEvent('stats', (e) => String(e.msg).startsWith('Daemon statistics: '));
    expect((logged.stats as { total_processed: number }).total_processed).toBe(1);
  });

  it('stop cancels a running manifest: its outputs are removed and it goes back to to_be_processed/', async () => {
    dropManifest(tree.queueDir, 'slow.json', slowBatch(), staging());
    const status = await waitFor('a running VM in ctl status', async () => {
      const s = await ctl('status');
      return s.running_vms.length > 0 ? s : undefined;
    });
    expect(status.manifests.processing).toEqual(['slow.json']);
    expect(status.in_flight).toBe(1);
    // a second query may land between two VMs of the batch (one settles, the next is claimed): asked again then
    const running = /Running: slow\.json: slow-\d \((load|convert|validate)\)/;
    const human = await waitFor('a running VM in the human ctl status', async () => {
      const r = await runH2k(['ctl', 'status', '--output-dir', tree.outputDir]);
      return running.test(r.stdout) ? r : undefined;
    });
    expect(human.stdout).toMatch(running);
    expect(status.running_vms[0]).toMatchObject({ manifest: 'slow.json', vm: expect.stringMatching(/^slow-\d$/), stage: expect.stringMatching(/^(load|convert|validate)$/) });

    expect(await ctl('stop')).toMatchObject({ status: 'ok' });
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    const cancelled = daemon.events.find((e) => e.event === 'manifest_interrupted');
    expect(cancelled).toMatchObject({ manifest: 'slow.json', requeued: true });
    expect(existsSync(join(tree.queueDir, 'slow.json'))).toBe(true);
    expect(readdirSync(join(tree.workflowDir, 'processing'))).toEqual([]);
    // Not even the VMs that had finished keep an output: the manifest will run again in full.
    expect(outputsUnder(join(tree.outputDir, 'slow'))).toEqual([]);
    expect(readdirSync(join(tree.workflowDir, 'processed')).flatMap((d) => readdirSync(join(tree.workflowDir, 'processed', d)))).not.toContain('slow.json');
    // No daemon, no answer: exit 2.
    expect((await runH2k(['ctl', 'status', '--output-dir', tree.outputDir])).code).toBe(69);
  });

  it('drain finishes the running manifest, takes no new one, then exits', async () => {
    daemon = await startWorkflowDaemon(tree.root, tree.workflowDir, tree.outputDir, 1, { metrics_listen: '127.0.0.1:0' });
    await daemon.waitForEvent('manifest_taken', (e) => e.manifest === 'slow.json');
    // Counters continue from stats.json.
    expect((await ctl('stats')).stats.total_processed).toBe(1);
    expect(await ctl('drain')).toMatchObject({ status: 'ok' });
    dropManifest(tree.queueDir, 'late.yaml', singleManifest('../../images/small.vmdk', { convert: {} }), staging());
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    const processed = daemon.events.find((e) => e.event === 'manifest_processed' && e.manifest === 'slow.json');
    expect(processed).toBeDefined();
    const out = join(tree.outputDir, 'slow');
    expect(outputsUnder(out).sort()).toEqual(Array.from({ length: SLOW_VMS }, (_, i) => `slow-${i + 1}.qcow2`).sort());
    for (const f of outputsUnder(out)) expect(compareImages(noisy, join(out, f), 'raw', 'qcow2').code).toBe(0);
    expect(existsSync(join(tree.queueDir, 'late.yaml'))).toBe(true);
    expect(daemon.events.some((e) => e.event === 'manifest_taken' && e.manifest === 'late.yaml')).toBe(false);
    expect(readJson(join(tree.outputDir, '.daemon', 'stats.json'))).toMatchObject({ total_processed: 2, state: 'stopped' });
  });
});
