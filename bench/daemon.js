#!/usr/bin/env node
// Daemon benchmark (not a test): 6 images through the watch-folder daemon with 1 and 2 workers,
// --repeat runs each (alternating which goes first), every run's figure shown; in the same runs the
// copy limit: the same bytes copied (cat + fsync of the copy) one file at a time and two at once, so
// a scaling short of 2× can be told apart from a disk / page-cache limit. Then the idle daemon's
// RSS and CPU. gzip -1 of the same bytes, 1 vs 2 at once, gives the CPU ceiling of the moment. Writes bench/results/daemon.json with `summary` rows (bench/summary.js).
//   node bench/daemon.js [--mib 64] [--repeat 5] [--idle-seconds 10]     (needs `npm run build`)
// Images are seeded raw disks converted to zlib qcow2 with one compression thread per job, so the
// figures show job-level parallelism.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { machine, median, option, repo, writeResults } from './lib/measure.js';
import { ctl, daemonRun, seededImages, sleep, startDaemon, waitFor } from './lib/daemon-run.js';

const bin = join(repo, 'bin', 'h2k.js');
const MIB = Number(option('mib', 64));
const REPEAT = Number(option('repeat', 5));
const IDLE_SECONDS = Number(option('idle-seconds', 10));
const IMAGES = 6;

// The machine's ceilings in the same run: the same bytes copied (disk and page cache), and
// compressed by gzip -1 (CPU: what a second core gives while others use the machine).
const LIMITS = {
  copy: 'for f; do cat "$f" > "$D/${f##*/}" && sync "$D/${f##*/}" || exit 1; done',
  cpu: 'for f; do gzip -1 -c "$f" > /dev/null || exit 1; done',
};

/** Seconds for a LIMITS script over the sources in `lanes` parallel lanes. */
async function limitRun(kind, dir, sources, lanes) {
  mkdirSync(dir, { recursive: true });
  const script = LIMITS[kind];
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: lanes }, (_, lane) => {
      const mine = sources.filter((_, i) => i % lanes === lane);
      const p = spawn('sh', ['-c', script, 'copy', ...mine], { env: { ...process.env, D: dir }, stdio: 'inherit' });
      return new Promise((res, rej) => p.on('exit', (code) => (code === 0 ? res() : rej(new Error(`copy exited ${code}`)))));
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  rmSync(dir, { recursive: true, force: true });
  return seconds;
}

function procFigures(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssKiB, ticks: Number(fields[11]) + Number(fields[12]) }; // utime + stime
}

async function idleFigures(work) {
  const d = startDaemon(bin, join(work, 'idle'), 2);
  await waitFor(() => d.log().includes('"daemon_started"'), 60_000, 'daemon start');
  await sleep(3000);
  const a = procFigures(d.proc.pid);
  const ta = Date.now();
  await sleep(IDLE_SECONDS * 1000);
  const b = procFigures(d.proc.pid);
  const seconds = (Date.now() - ta) / 1000;
  ctl(bin, d.out, 'stop');
  await d.exited;
  const hz = 100; // USER_HZ on Linux
  return { rss_mib: Math.round((b.rssKiB / 1024) * 10) / 10, cpu_percent: Math.round(((b.ticks - a.ticks) / hz / seconds) * 1e4) / 100, measured_seconds: IDLE_SECONDS };
}

const fmt = (xs) => xs.map((x) => x.toFixed(2)).join(', ');
const work = mkdtempSync(join(tmpdir(), 'h2k-bench-daemon-'));
try {
  const at = machine();
  const sources = seededImages(work, IMAGES, MIB);
  const runs = [];
  for (let r = 0; r < REPEAT; r++) {
    const order = r % 2 ? [2, 1] : [1, 2];
    const run = { daemon: {}, copy: {}, cpu: {} };
    run.wall = {};
    for (const w of order) {
      const d = await daemonRun(bin, join(work, `r${r}-w${w}`), sources, w);
      run.daemon[w] = d.window;
      run.wall[w] = d.seconds;
    }
    for (const kind of ['copy', 'cpu'])
      for (const lanes of order) run[kind][lanes] = await limitRun(kind, join(work, `r${r}-${kind}${lanes}`), sources, lanes);
    run.speedup = run.daemon[1] / run.daemon[2];
    run.copySpeedup = run.copy[1] / run.copy[2];
    run.cpuSpeedup = run.cpu[1] / run.cpu[2];
    runs.push(run);
    const line = (what, o, x) => `${what} ${o[1].toFixed(2)} s -> ${o[2].toFixed(2)} s = ${x.toFixed(2)}×`;
    console.log(`run ${r + 1}: ${line('daemon jobs', run.daemon, run.speedup)} (drop to done ${run.wall[1].toFixed(2)} s -> ${run.wall[2].toFixed(2)} s); ${line('copy', run.copy, run.copySpeedup)}; ${line('gzip', run.cpu, run.cpuSpeedup)}; load ${loadavg()[0].toFixed(1)}`);
  }
  const speedups = runs.map((r) => r.speedup);
  const copySpeedups = runs.map((r) => r.copySpeedup);
  const cpuSpeedups = runs.map((r) => r.cpuSpeedup);
  const s1 = runs.map((r) => r.daemon[1]);
  const s2 = runs.map((r) => r.daemon[2]);
  const idle = IDLE_SECONDS > 0 ? await idleFigures(work) : undefined;
  const summary = [
    {
      work: `daemon, ${IMAGES} × ${MIB} MiB -> qcow2 zlib, first job started to last done: 1 → 2 workers (runs: ${fmt(speedups)}×; drop to done, stability wait included: ${median(runs.map((r) => r.wall[1])).toFixed(2)} -> ${median(runs.map((r) => r.wall[2])).toFixed(2)} s)`,
      h2k: `2 workers ${median(s2).toFixed(2)} s (${fmt(s2)})`,
      peer: `1 worker ${median(s1).toFixed(2)} s (${fmt(s1)})`,
      ratio: `${median(speedups).toFixed(2)}× faster`,
      target: '≥ 1.7×',
      met: median(speedups) >= 1.7,
      commands: ['node bench/daemon.js'],
    },
    {
      work: `copy limit: the same bytes, cat + fsync, 1 → 2 at once (runs: ${fmt(copySpeedups)}×)`,
      h2k: `2 lanes ${median(runs.map((r) => r.copy[2])).toFixed(2)} s`,
      peer: `1 lane ${median(runs.map((r) => r.copy[1])).toFixed(2)} s`,
      ratio: `${median(copySpeedups).toFixed(2)}× faster`,
      target: 'the disk / cache ceiling',
      commands: [LIMITS.copy],
    },
    {
      work: `CPU limit: the same bytes, gzip -1, 1 → 2 at once (runs: ${fmt(cpuSpeedups)}×)`,
      h2k: `2 lanes ${median(runs.map((r) => r.cpu[2])).toFixed(2)} s`,
      peer: `1 lane ${median(runs.map((r) => r.cpu[1])).toFixed(2)} s`,
      ratio: `${median(cpuSpeedups).toFixed(2)}× faster`,
      target: 'the CPU ceiling',
      commands: [LIMITS.cpu],
    },
  ];
  console.log(`1 → 2 medians: daemon ${median(speedups).toFixed(2)}× (${fmt(speedups)}); copy ${median(copySpeedups).toFixed(2)}× (${fmt(copySpeedups)}); gzip ${median(cpuSpeedups).toFixed(2)}× (${fmt(cpuSpeedups)})`);
  if (idle) console.log(`idle daemon: RSS ${idle.rss_mib} MiB, CPU ${idle.cpu_percent}% over ${IDLE_SECONDS}s`);
  writeResults('daemon', {
    ...at,
    repeat: REPEAT,
    setup: `${IMAGES} seeded raw images of ${MIB} MiB -> qcow2 (zlib, 1 compression thread per job), file_stable_timeout 0.3 s; throughput from the first job_started to the last job_succeeded (daemon log), and the wall time from the files appearing to stats.json showing all processed`,
    runs,
    idle,
    summary,
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}
