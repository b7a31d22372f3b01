// One timed daemon run for the daemon benchmarks (bench/daemon.js, bench/compare-commits.js): the
// seeded images dropped into a fresh watch-folder daemon at once, timed from the drop to
// stats.json showing them all processed, and the workers' window from the daemon's JSON log.
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repo } from './measure.js';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(fn, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = fn();
      if (v) return v;
    } catch {}
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

/** `bin`: the bin/h2k.js of the checkout timed. */
export function startDaemon(bin, dir, workers) {
  const watch = join(dir, 'watch');
  const out = join(dir, 'out');
  mkdirSync(watch, { recursive: true });
  const cfg = join(dir, 'daemon.yaml');
  writeFileSync(cfg, [
    `watch_dir: ${watch}`, `output_dir: ${out}`, `max_concurrent_jobs: ${workers}`, 'file_stable_timeout: 0.3',
    'compression: zlib', 'threads: 1', 'enable_deduplication: false', 'stats_interval: 1', 'log_format: json',
  ].join('\n') + '\n');
  const proc = spawn(process.execPath, [bin, 'daemon', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => (log += d));
  const exited = new Promise((r) => proc.on('exit', r));
  return { proc, watch, out, exited, log: () => log, stats: () => JSON.parse(readFileSync(join(out, '.daemon', 'stats.json'), 'utf8')) };
}

export function ctl(bin, out, cmd) {
  execFileSync(process.execPath, [bin, 'ctl', '--output-dir', out, cmd], { stdio: 'ignore' });
}

/** Seconds for the daemon to convert the images dropped in at once (from the rename to stats.json). */
export async function daemonRun(bin, dir, sources, workers) {
  const d = startDaemon(bin, dir, workers);
  await waitFor(() => d.log().includes('"daemon_started"'), 60_000, `daemon start: ${d.log()}`);
  const stage = join(dir, 'stage'); // copies on the same filesystem, renamed in at once
  mkdirSync(stage);
  for (const s of sources) copyFileSync(s, join(stage, s.split('/').pop()));
  const t0 = process.hrtime.bigint();
  for (const s of sources) renameSync(join(stage, s.split('/').pop()), join(d.watch, s.split('/').pop()));
  await waitFor(() => d.stats().total_processed === sources.length, 600_000, `${sources.length} conversions: ${d.log().slice(-2000)}`);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const failed = d.stats().total_failed;
  ctl(bin, d.out, 'drain');
  await d.exited;
  if (failed) throw new Error(`${failed} conversions failed: ${d.log().slice(-2000)}`);
  rmSync(dir, { recursive: true, force: true });
  return { seconds, window: jobWindow(d.log()) };
}

/** Seconds from the first job_started to the last job_succeeded in the daemon's JSON log: the
 *  workers' throughput, without the file-stability wait every drop pays once before its job. */
function jobWindow(log) {
  let first = Infinity;
  let last = -Infinity;
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    const e = JSON.parse(line);
    const t = Date.parse(e.time);
    if (e.event === 'job_started') first = Math.min(first, t);
    if (e.event === 'job_succeeded') last = Math.max(last, t);
  }
  if (!Number.isFinite(first) || !Number.isFinite(last)) throw new Error('no job_started / job_succeeded in the daemon log');
  return (last - first) / 1000;
}

/** `n` seeded raw images of `mib` MiB in `work` (scripts/make-seeded-raw.js). */
export function seededImages(work, n, mib) {
  return Array.from({ length: n }, (_, i) => {
    const path = join(work, `vm${i}.img`);
    execFileSync(process.execPath, [join(repo, 'scripts', 'make-seeded-raw.js'), path, String(mib), String(100 + i)]);
    return path;
  });
}
