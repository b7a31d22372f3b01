// The real daemon as a child process on a temp dir, driven through files, the control socket,
// stats.json and the metrics endpoint; qemu-img checks every output.
import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, openSync, readFileSync, readdirSync, renameSync, statSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { runH2k } from './helpers/cli.js';
import { compareImages, expectCleanCheck, makeSeededRaw, toVmdk } from './helpers/fixtures.js';
import { daemonTestScope, waitFor, type DaemonHarness } from './helpers/daemon-harness.js';
import { localDate } from '../src/util/local-date.js';

const { fx, start: startTracked } = daemonTestScope('daemon-e2e-fx');

async function start(config: Record<string, unknown>, reuse?: { root: string }): Promise<DaemonHarness> {
  const h = await startTracked({ config, reuse });
  return h;
}

function findFiles(dir: string, pred: (name: string) => boolean, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) findFiles(p, pred, out);
    else if (pred(e.name)) out.push(p);
  }
  return out;
}

function reportFor(h: DaemonHarness, vm: string): Record<string, any> {
  const [r] = findFiles(h.outputDir, (n) => n === 'report.json').filter((p) => p.endsWith(`/${vm}/report.json`));
  return JSON.parse(readFileSync(r, 'utf8'));
}

async function scrape(address: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${address}/metrics`)).text();
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const [key, value] = line.split(/ (?=[^ ]+$)/);
    m.set(key, Number(value));
  }
  return m;
}

const sumOf = (m: Map<string, number>, name: string) =>
  [...m].filter(([k]) => k === name || k.startsWith(`${name}{`)).reduce((a, [, v]) => a + v, 0);

describe('h2k daemon end to end', () => {
  it('converts concurrently, groups a split VMDK, files a corrupt one, and stats.json / ctl / metrics agree', { timeout: 240_000 }, async () => {
    const raw = makeSeededRaw(join(fx.dir, 'base.raw'), 96, 7);
    const h = await start({ max_concurrent_jobs: 3, compression: 'zlib', threads: 1, metrics_listen: '127.0.0.1:0' });
    const metricsAt = (await h.waitForEvent('metrics_listening')).address as string;
    expect(statSync(h.socket).mode & 0o777).toBe(0o600);

    // Three raw images appear together (renamed in, as a finished copy lands): they must run at the
    // same time. Copied in one by one, they settled apart on a busy machine and a warm pool's first
    // job could end before the third began.
    for (const n of ['a', 'b', 'c']) copyFileSync(raw, join(fx.dir, `${n}.img`));
    for (const n of ['a', 'b', 'c']) renameSync(join(fx.dir, `${n}.img`), join(h.watchDir, `${n}.img`));
    await h.until('3 converted', () => h.count('job_succeeded') === 3, 120_000);
    const spans = ['a', 'b', 'c'].map((n) => reportFor(h, n)).map((r) => [Date.parse(r.started_at), Date.parse(r.finished_at)]);
    expect(Math.max(...spans.map((s) => s[0]))).toBeLessThan(Math.min(...spans.map((s) => s[1])));

    // A split sparse VMDK (descriptor + extent) and a corrupt .vmdk.
    toVmdk(raw, join(fx.dir, 'split.vmdk'), 'twoGbMaxExtentSparse');
    copyFileSync(join(fx.dir, 'split-s001.vmdk'), join(h.watchDir, 'split-s001.vmdk'));
    copyFileSync(join(fx.dir, 'split.vmdk'), join(h.watchDir, 'split.vmdk'));
    // A monolithic sparse VMDK cut short: the copy broke off.
    toVmdk(raw, join(fx.dir, 'whole.vmdk'), 'monolithicSparse');
    require_write(join(h.watchDir, 'broken.vmdk'), readFileSync(join(fx.dir, 'whole.vmdk')).subarray(0, 200_000));
    await h.until('split + broken done', () => h.count('job_succeeded') === 4 && h.count('job_failed') === 1, 30_000);

    for (const n of ['a', 'b', 'c', 'split']) {
      const out = findFiles(h.outputDir, (f) => f === `${n}.qcow2`)[0];
      expect(out).toBeTruthy();
      expectCleanCheck(out);
      expect(compareImages(raw, out, 'raw', 'qcow2').code).toBe(0);
    }
    const split = reportFor(h, 'split');
    expect(split.source.files).toEqual(['split.vmdk', 'split-s001.vmdk']);
    expect(h.events.filter((e) => e.event === 'job_queued' && String(e.file).endsWith('split-s001.vmdk'))).toEqual([]);
    expect(readdirSync(join(h.watchDir, '.processed', localDate())).sort()).toEqual(['a.img', 'b.img', 'c.img', 'split-s001.vmdk', 'split.vmdk']);

    const ctx = JSON.parse(readFileSync(join(h.watchDir, '.errors', 'broken.vmdk.error.json'), 'utf8'));
    expect(existsSync(join(h.watchDir, '.errors', 'broken.vmdk'))).toBe(true);
    for (const key of ['filename', 'filepath', 'file_size_mb', 'timestamp', 'error', 'code', 'phase', 'exception_traceback', 'suggestion', 'system_info'])
      expect(ctx).toHaveProperty(key);
    expect(ctx.filename).toBe('broken.vmdk');
    expect(ctx.code).toMatch(/^E_(VMDK_|CORRUPT|TRUNCATED)/);
    expect(ctx.phase).toBe('conversion');
    expect(ctx.suggestion).toMatch(/corrupt/);
    expect(Object.keys(ctx.system_info).sort()).toEqual(['disk_space_free_gb', 'h2k_version', 'node_version', 'platform']);
    expect(h.count('job_retry')).toBe(0);

    // The three views of the statistics agree.
    await h.until('stats.json caught up', () => h.statsFile().total_failed === 1 && h.statsFile().in_flight === 0, 10_000);
    const file = h.statsFile();
    const r = await h.ctl(['stats', '--json']);
    expect(r.code).toBe(0);
    const viaCtl = JSON.parse(r.stdout).stats;
    const metrics = await scrape(metricsAt);
    expect(file.total_processed).toBe(4);
    expect(viaCtl.total_processed).toBe(4);
    expect(sumOf(metrics, 'h2k_processed_total')).toBe(4);
    expect(viaCtl.total_failed).toBe(1);
    expect(sumOf(metrics, 'h2k_failed_total')).toBe(1);
    expect(metrics.get('h2k_processed_total{file_type="img"}')).toBe(3);
    expect(metrics.get('h2k_processed_total{file_type="vmdk"}')).toBe(1);
    expect(metrics.get('h2k_failed_total{file_type="vmdk"}')).toBe(1);
    expect(viaCtl.current_queue_depth).toBe(0);
    expect(metrics.get('h2k_queue_depth')).toBe(0);
    expect(metrics.get('h2k_jobs_running')).toBe(0);
    expect(sumOf(metrics, 'h2k_job_duration_seconds_count')).toBe(4);
    expect(sumOf(metrics, 'h2k_output_bytes_total')).toBe(viaCtl.total_bytes_written);
    expect(viaCtl.by_file_type).toEqual(file.by_file_type);
    expect(file.success_rate_percent).toBe(80);
    expect(viaCtl.success_rate_percent).toBe(80);
    expect(file.avg_processing_time_seconds).toBeGreaterThan(0);

    const human = await h.ctl(['stats']);
    for (const label of ['Uptime:', 'Processed: 4', 'Failed: 1', 'Success Rate: 80.0%', 'Avg Processing Time:', 'Queue Depth: 0', 'By File Type:', 'img: 3 ok, 0 failed, 100.0% success'])
      expect(human.stdout).toContain(label);

    // SIGUSR1 logs the same figures.
    h.proc.kill('SIGUSR1');
    await h.waitForEvent('stats', (e) => String(e.msg).includes('Processed: 4'));

    const drained = await h.ctl(['drain']);
    expect(drained.code).toBe(0);
    expect((await h.exited).code).toBe(0);
    expect(existsSync(h.socket)).toBe(false);
  });

  it('does not queue a file that is still being copied in (and verify_output reads the result back)', async () => {
    const h = await start({ file_stable_timeout: 1.0, verify_output: true });
    const path = join(h.watchDir, 'slow.img');
    const fd = openSync(path, 'w');
    const chunk = Buffer.alloc(256 * 1024, 7);
    let lastWrite = 0;
    for (let i = 0; i < 8; i++) {
      writeSync(fd, chunk);
      lastWrite = Date.now();
      await new Promise((r) => setTimeout(r, 350));
    }
    closeSync(fd);
    const queued = await h.waitForEvent('job_queued', undefined, 30_000);
    expect(Date.parse(queued.time)).toBeGreaterThanOrEqual(lastWrite + 1000 - 50);
    expect(h.count('file_growing')).toBeGreaterThan(0);
    const stable = await h.waitForEvent('file_stable');
    expect(stable.msg).toBe('File stable: slow.img (2.00 MiB)');
    expect(stable.size).toBe(8 * chunk.length);
    await h.waitForEvent('job_succeeded');
    const out = findFiles(h.outputDir, (n) => n === 'slow.qcow2')[0];
    expect(compareImages(join(h.watchDir, '.processed', localDate(), 'slow.img'), out, 'raw', 'qcow2').code).toBe(0);
    expect(reportFor(h, 'slow').conversion.verified).toBe(true);
    // SIGTERM (systemd's stop) takes nothing new, lets running jobs finish and exits cleanly.
    h.proc.kill('SIGTERM');
    expect((await h.exited).code).toBe(0);
    expect(h.count('daemon_stopping')).toBe(1);
    expect(h.count('daemon_stopped')).toBe(1);
  });

  it('pause holds the queue, resume releases it, status reports it, stop exits and ctl then finds no daemon', async () => {
    const raw = makeSeededRaw(join(fx.dir, 'small.raw'), 4, 3);
    const h = await start({});
    expect((await h.ctl(['pause'])).stdout).toContain('Daemon paused');
    copyFileSync(raw, join(h.watchDir, 'held.img'));
    await h.waitForEvent('job_queued');
    await new Promise((r) => setTimeout(r, 500));
    expect(h.count('job_started')).toBe(0);
    const st = JSON.parse((await h.ctl(['status', '--json'])).stdout);
    expect(st).toMatchObject({ status: 'ok', state: 'paused', paused: true, queue_depth: 1, in_flight: 0 });
    expect((await h.ctl(['status'])).stdout).toContain('Status: PAUSED');
    expect(JSON.parse((await h.ctl(['stats', '--json'])).stdout).stats.current_queue_depth).toBe(1);
    await waitFor('stats.json queue depth 1', () => h.statsFile().current_queue_depth === 1, 10_000);

    await h.ctl(['resume']);
    await h.waitForEvent('job_succeeded');
    expect(JSON.parse((await h.ctl(['status', '--json'])).stdout).state).toBe('running');

    const stop = await h.ctl(['stop']);
    expect(stop.code).toBe(0);
    expect((await h.exited).code).toBe(0);
    const none = await h.ctl(['status']);
    expect(none.code).toBe(69);
    expect(none.stderr).toContain('E_NO_DAEMON');
    const noneJson = await runH2k(['ctl', '--socket', join(fx.dir, 'nothing.sock'), '--json', 'stats']);
    expect(noneJson.code).toBe(69);
    expect(JSON.parse(noneJson.stdout).error.code).toBe('E_NO_DAEMON');
  });

  it('survives kill -9 mid-conversion: restart removes the .partial and redoes the job from the source', async () => {
    const raw = makeSeededRaw(join(fx.dir, 'big.raw'), 64, 11);
    const config = { compression: 'zlib', threads: 1, max_concurrent_jobs: 1 };
    const h1 = await start(config);
    copyFileSync(raw, join(h1.watchDir, 'big.img'));
    const partial = await waitFor('a .partial output', () => findFiles(h1.outputDir, (n) => n.endsWith('.partial'))[0], 60_000, 10);
    h1.proc.kill('SIGKILL');
    expect((await h1.exited).signal).toBe('SIGKILL');
    expect(existsSync(join(h1.watchDir, 'big.img'))).toBe(true);
    expect(h1.count('job_succeeded')).toBe(0);

    const h2 = await start(config, { root: h1.root });
    await h2.waitForEvent('partial_removed', (e) => e.file === partial);
    await h2.waitForEvent('job_succeeded', undefined, 120_000);
    expect(findFiles(h2.outputDir, (n) => n.endsWith('.partial'))).toEqual([]);
    const outs = findFiles(h2.outputDir, (n) => n.endsWith('.qcow2'));
    expect(outs).toHaveLength(1);
    expectCleanCheck(outs[0]);
    expect(compareImages(raw, outs[0], 'raw', 'qcow2').code).toBe(0);
    expect(existsSync(join(h2.watchDir, '.processed', localDate(), 'big.img'))).toBe(true);
  });
});

function require_write(path: string, data: Buffer): void {
  const fd = openSync(path, 'w');
  writeSync(fd, data);
  closeSync(fd);
}
