#!/usr/bin/env node
// Daemon benchmark (not a test): throughput of 6 images with 1, 2 and 3 workers, and the idle
// daemon's RSS and CPU. Prints a table and writes bench/results/daemon.json.
//   node bench/daemon.js [--mib 32] [--idle-seconds 10]
// Needs `npm run build` first. Images are seeded raw disks converted to zlib-compressed qcow2
// with one compression thread per job, so the figures show job-level parallelism.
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, copyFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'h2k.js');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const MIB = arg('mib', 32);
const IDLE_SECONDS = arg('idle-seconds', 10);
const IMAGES = 6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(fn, timeoutMs, what) {
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

function startDaemon(dir, workers) {
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

function ctl(out, cmd) {
  execFileSync(process.execPath, [bin, 'ctl', '--output-dir', out, cmd], { stdio: 'ignore' });
}

function procFigures(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return { rssKiB, ticks };
}

const work = mkdtempSync(join(tmpdir(), 'h2k-bench-daemon-'));
try {
  const src = join(work, 'src');
  mkdirSync(src);
  for (let i = 0; i < IMAGES; i++)
    execFileSync(process.execPath, [join(root, 'scripts', 'make-seeded-raw.js'), join(src, `vm${i}.img`), String(MIB), String(100 + i)]);

  const runs = [];
  for (const workers of [1, 2, 3]) {
    const dir = join(work, `w${workers}`);
    const d = startDaemon(dir, workers);
    await waitFor(() => d.log().includes('"daemon_started"'), 60_000, `daemon start: ${d.log()}`);
    // Stage copies on the same filesystem, then rename them in at once.
    const stage = join(dir, 'stage');
    mkdirSync(stage);
    for (let i = 0; i < IMAGES; i++) copyFileSync(join(src, `vm${i}.img`), join(stage, `vm${i}.img`));
    const t0 = Date.now();
    for (let i = 0; i < IMAGES; i++) renameSync(join(stage, `vm${i}.img`), join(d.watch, `vm${i}.img`));
    await waitFor(() => d.stats().total_processed === IMAGES, 600_000, `${IMAGES} conversions`);
    const seconds = (Date.now() - t0) / 1000;
    const s = d.stats();
    ctl(d.out, 'drain');
    await d.exited;
    const bytes = IMAGES * MIB * 1024 * 1024;
    runs.push({
      workers,
      images: IMAGES,
      image_mib: MIB,
      wall_seconds: Math.round(seconds * 100) / 100,
      images_per_minute: Math.round((IMAGES / seconds) * 60 * 10) / 10,
      virtual_mib_per_second: Math.round((bytes / 1024 / 1024 / seconds) * 10) / 10,
      avg_job_seconds: s.avg_processing_time_seconds,
      failed: s.total_failed,
    });
  }
  for (const r of runs) r.speedup_vs_1 = Math.round((runs[0].wall_seconds / r.wall_seconds) * 100) / 100;

  // Idle: an empty watch folder, measured after start-up settles.
  const idleDir = join(work, 'idle');
  const d = startDaemon(idleDir, 3);
  await waitFor(() => d.log().includes('"daemon_started"'), 60_000, 'daemon start');
  await sleep(3000);
  const a = procFigures(d.proc.pid);
  const ta = Date.now();
  await sleep(IDLE_SECONDS * 1000);
  const b = procFigures(d.proc.pid);
  const tb = Date.now();
  const hz = 100; // USER_HZ on Linux
  const idle = {
    rss_mib: Math.round((b.rssKiB / 1024) * 10) / 10,
    cpu_percent: Math.round((((b.ticks - a.ticks) / hz) / ((tb - ta) / 1000)) * 100 * 100) / 100,
    measured_seconds: IDLE_SECONDS,
  };
  ctl(d.out, 'stop');
  await d.exited;

  const result = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    setup: `${IMAGES} seeded raw images of ${MIB} MiB -> qcow2 (zlib, 1 compression thread per job), file_stable_timeout 0.3 s; wall time from the files appearing to stats.json showing all processed`,
    throughput: runs,
    idle,
  };
  console.log('workers  wall(s)  images/min  virtual MiB/s  avg job(s)  speedup');
  for (const r of runs)
    console.log(`${String(r.workers).padStart(7)}  ${r.wall_seconds.toFixed(2).padStart(7)}  ${r.images_per_minute.toFixed(1).padStart(10)}  ${r.virtual_mib_per_second.toFixed(1).padStart(13)}  ${r.avg_job_seconds.toFixed(2).padStart(10)}  ${r.speedup_vs_1.toFixed(2).padStart(7)}`);
  console.log(`idle daemon: RSS ${idle.rss_mib} MiB, CPU ${idle.cpu_percent}% over ${IDLE_SECONDS}s`);
  const outDir = join(root, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'daemon.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(`wrote ${join(outDir, 'daemon.json')}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
