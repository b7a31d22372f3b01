// SIGTERM as a service manager sends it, to the real daemon in both modes: nothing new starts
// (queued work stays for the next start), running jobs get shutdown_grace_seconds to finish,
// then are cancelled and requeued; the next start does what was left.
import { createCipheriv } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runH2k } from './helpers/cli.js';
import { daemonTestScope, waitFor, type DaemonHarness } from './helpers/daemon-harness.js';
import { compareImages } from './helpers/fixtures.js';
import { startWorkflowDaemon } from './helpers/workflow-daemon.js';
import { dropManifest, singleManifest, workflowTree } from './helpers/workflow-fixtures.js';

const { fx, start } = daemonTestScope('service-signals');
const MiB = 1024 * 1024;

/** Incompressible but reproducible bytes: zlib has real work to do on them (a job that runs for a while). */
function noisyRaw(path: string, mib: number, seed: number): string {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16, 0));
  writeFileSync(path, Buffer.concat([cipher.update(Buffer.alloc(mib * MiB)), cipher.final()]));
  return path;
}

const slowJob = { max_concurrent_jobs: 1, compression: 'zlib', threads: 1, file_extensions: ['.img'] };
const outputsOf = (h: DaemonHarness, vm: string) => h.events.filter((e) => e.event === 'job_succeeded' && String(e.file).endsWith(`/${vm}.img`));

describe('SIGTERM', () => {
  it('lets the running job finish, starts no queued one, and the next start does it; past the grace time a job is cancelled and requeued', { timeout: 180_000 }, async () => {
    // 160 MiB zlib on one thread: still running when the 0.2 s grace below ends
    const noisy = noisyRaw(join(fx.dir, 'noisy.raw'), 160, 5);
    const h = await start({ config: { ...slowJob, shutdown_grace_seconds: 60 } });
    expect((await h.ctl(['pause'])).code).toBe(0);
    for (const n of ['a', 'b']) copyFileSync(noisy, join(fx.dir, `${n}.img`));
    for (const n of ['a', 'b']) copyFileSync(join(fx.dir, `${n}.img`), join(h.watchDir, `${n}.img`));
    await h.until('2 queued', () => h.count('job_queued') === 2);
    expect((await h.ctl(['resume'])).code).toBe(0);
    const first = await h.waitForEvent('job_started');
    const sent = Date.now();
    h.proc.kill('SIGTERM');
    expect((await h.exited).code).toBe(0);
    expect(Date.now() - sent).toBeLessThan(60_000);
    expect((await h.waitForEvent('daemon_stopping')).grace_seconds).toBe(60);
    expect(h.count('job_started')).toBe(1);
    expect(h.count('job_succeeded')).toBe(1);
    const done = String(first.file).endsWith('/a.img') ? 'a' : 'b';
    const left = done === 'a' ? 'b' : 'a';
    expect(existsSync(join(h.watchDir, `${left}.img`))).toBe(true);
    expect(existsSync(join(h.watchDir, `${done}.img`))).toBe(false);

    // Next start: the left-over job runs; a SIGTERM with a short grace cancels it, and it stays.
    const again = await start({ reuse: { root: h.root }, config: { ...slowJob, shutdown_grace_seconds: 0.2 } });
    const started = await again.waitForEvent('job_started');
    expect(String(started.file)).toMatch(new RegExp(`/${left}\\.img$`));
    again.proc.kill('SIGTERM');
    expect((await again.exited).code).toBe(0);
    expect(again.count('job_cancelled')).toBe(1);
    expect(again.count('job_succeeded')).toBe(0);
    expect(existsSync(join(again.watchDir, `${left}.img`))).toBe(true);
    const partials = readdirSync(again.outputDir, { recursive: true }).map(String).filter((f) => f.endsWith('.partial'));
    expect(partials).toEqual([]);

    // And the start after that converts it.
    const third = await start({ reuse: { root: h.root }, config: { ...slowJob } });
    await third.until('converted', () => outputsOf(third, left).length === 1, 120_000);
    expect(compareImages(noisy, String(outputsOf(third, left)[0].output), 'raw', 'qcow2').code).toBe(0);
  });

  it('manifest mode: progress in ctl status; a running manifest past the grace time goes back to to_be_processed/, a queued one is not taken', { timeout: 120_000 }, async () => {
    const tree = workflowTree('sig-wf');
    const staging = join(tree.root, 'staging');
    mkdirSync(staging);
    // 256 MiB zlib: seconds of work, so it is still running when the 0.2 s grace ends (64 MiB
    // finished inside the grace once output went through O_DIRECT)
    noisyRaw(join(tree.imagesDir, 'noisy.raw'), 256, 6);
    const d = await startWorkflowDaemon(tree.root, tree.workflowDir, tree.outputDir, 1, { shutdown_grace_seconds: 0.2 });
    try {
      dropManifest(tree.queueDir, 'slow.yaml', singleManifest('../../images/noisy.raw', { convert: { output_format: 'qcow2', compress: 'zlib' } }, 'raw'), staging);
      await d.waitForEvent('manifest_taken', (e) => e.manifest === 'slow.yaml');
      // the manifest's conversion progress shows in ctl status as a watch-folder job's does
      const job = await waitFor('manifest progress in ctl status', async () => {
        const r = await runH2k(['ctl', '--output-dir', tree.outputDir, 'status', '--json']);
        const j = JSON.parse(r.stdout).current_jobs?.[0];
        return j?.percent > 0 ? j : undefined;
      });
      expect(job).toMatchObject({ filename: 'slow.yaml', bytes_total: 256 * MiB });
      dropManifest(tree.queueDir, 'next.yaml', singleManifest('../../images/noisy.raw', { convert: {} }, 'raw'), staging);
      d.proc.kill('SIGTERM');
      expect((await d.exited).code).toBe(0);
      expect(d.events.find((e) => e.event === 'manifest_interrupted')).toMatchObject({ manifest: 'slow.yaml', requeued: true });
      expect(d.events.some((e) => e.event === 'manifest_taken' && e.manifest === 'next.yaml')).toBe(false);
      expect(readdirSync(tree.queueDir).sort()).toEqual(['next.yaml', 'slow.yaml']);
      expect(readdirSync(join(tree.workflowDir, 'processing'))).toEqual([]);
    } finally {
      if (d.proc.exitCode === null) await d.stop();
      tree.cleanup();
    }
  });
});

describe('operator surface', () => {
  it('progress of a running job in `h2k ctl status` and stats.json; SIGUSR1 logs one structured record', { timeout: 120_000 }, async () => {
    // long enough (~4 s even on a quiet machine) that stats.json, refreshed within a second, sees it running
    const noisy = noisyRaw(join(fx.dir, 'progress.raw'), 384, 8);
    const h = await start({ config: { ...slowJob, stats_interval: 60 } });
    copyFileSync(noisy, join(h.watchDir, 'p.img'));
    const seen = await h.until('a job with progress in ctl status', async () => {
      const s = JSON.parse((await h.ctl(['status', '--json'])).stdout);
      const j = s.current_jobs?.[0];
      return j?.percent > 0 && j.percent < 100 ? j : undefined;
    });
    expect(seen).toMatchObject({ filename: 'p.img', bytes_total: statSync(noisy).size });
    expect(seen.bytes_done).toBeLessThan(seen.bytes_total);
    expect(seen.rate_bytes_per_second).toBeGreaterThan(0);
    expect(seen.eta_seconds).toBeGreaterThan(0);
    // stats.json is refreshed within a second while a job progresses (stats_interval is 60 s here).
    const onDisk = await h.until('progress in stats.json', () => (h.statsFile().current_jobs as any[])[0]?.progress);
    expect(onDisk.bytes_total).toBe(statSync(noisy).size);
    const human = await h.ctl(['status']);
    expect(human.stdout).toMatch(/Job: p\.img (\d+\.\d%.*ETA|\d+\.\d%)/);

    const before = h.count('stats');
    h.proc.kill('SIGUSR1');
    await h.until('a stats record', () => h.count('stats') > before);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.count('stats')).toBe(before + 1);
    const rec = h.events.filter((e) => e.event === 'stats').at(-1)!;
    expect(rec.msg).toMatch(/^Daemon statistics: Uptime: .*; Processed: \d+; /);
    expect((rec.stats as { in_flight: number }).in_flight).toBeLessThanOrEqual(1);
    await h.until('converted', () => h.count('job_succeeded') === 1, 90_000);
    await waitFor('no current job', () => (h.statsFile().current_jobs as unknown[]).length === 0);
  });

  it('a log file that cannot be opened is an error at start (exit 2, E_CONFIG), not ignored', { timeout: 30_000 }, async () => {
    const dir = join(fx.dir, 'logfail');
    mkdirSync(join(dir, 'watch'), { recursive: true });
    const r = await runH2k(['daemon', '--watch-dir', join(dir, 'watch'), '--output-dir', join(dir, 'out'), '--log-file', join(dir, 'missing', 'h2k.log')], { timeout: 20_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`cannot open log_file ${join(dir, 'missing', 'h2k.log')} for writing`);
    expect(existsSync(join(dir, 'out', '.daemon', 'control.sock'))).toBe(false);
  });
});
