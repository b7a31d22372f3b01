#!/usr/bin/env node
// The conversion entries compared in one process: convertImage through a pool worker (the addon's
// synchronous entry on the worker's thread, as the daemon runs it) against the main thread (the
// asynchronous entry on a libuv thread, as one-shot CLI commands run it). Runs alternate; medians
// of --repeat. Writes bench/results/pool-entry.json.
//   node bench/pool-entry.js [--mib 1024] [--repeat 5]     (needs `npm run build`)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machine, option, repo, secondsWithSpread, median, writeResults } from './lib/measure.js';

const { runTasksInline } = await import(join(repo, 'dist', 'pool', 'placement.js'));
const { destroyPool } = await import(join(repo, 'dist', 'pool', 'pool.js'));
const { convertImage } = await import(join(repo, 'dist', 'convert', 'convert-image.js'));

const MIB = Number(option('mib', 1024));
const REPEAT = Number(option('repeat', 5));
const work = mkdtempSync(join(tmpdir(), 'h2k-bench-pool-entry-'));
try {
  const raw = join(work, 'disk.raw');
  const vmdk = join(work, 'disk.vmdk');
  execFileSync(process.execPath, [join(repo, 'scripts', 'make-seeded-raw.js'), raw, String(MIB), '42']);
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicSparse', raw, vmdk]);
  rmSync(raw);
  const at = machine();
  const times = { worker: [], inline: [] };
  const cpu = { worker: [], inline: [] }; // CPU seconds of the whole process: steadier than wall time on a busy machine
  const run = async (where) => {
    runTasksInline(where === 'inline');
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    await convertImage({ source: vmdk, output: join(work, 'out.qcow2'), force: true });
    times[where].push(Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    cpu[where].push((c.user + c.system) / 1e6);
  };
  await run('worker'); // starts the pool's thread: not counted
  times.worker.length = 0;
  cpu.worker.length = 0;
  for (let i = 0; i < REPEAT; i++) for (const where of i % 2 ? ['inline', 'worker'] : ['worker', 'inline']) await run(where);
  await destroyPool();
  const ratio = median(times.worker) / median(times.inline);
  const row = {
    work: `convert ${MIB} MiB VMDK -> qcow2 in a pool worker (sync entry) vs main thread (async entry)`,
    h2k: secondsWithSpread(times.worker),
    peer: secondsWithSpread(times.inline),
    ratio: `${ratio.toFixed(2)}×`,
    target: '≤ 1.05×',
    met: ratio <= 1.05,
    commands: ['convertImage() with the pool', 'convertImage() inline'],
  };
  console.log(`worker (convertSync): ${times.worker.map((t) => t.toFixed(3)).join(' ')} -> ${row.h2k}`);
  console.log(`inline (convert):     ${times.inline.map((t) => t.toFixed(3)).join(' ')} -> ${row.peer}`);
  console.log(`ratio ${row.ratio}; CPU seconds worker ${secondsWithSpread(cpu.worker)} vs inline ${secondsWithSpread(cpu.inline)}`);
  writeResults('pool-entry', { ...at, repeat: REPEAT, runs: times, cpuSeconds: cpu, summary: [row] });
} finally {
  rmSync(work, { recursive: true, force: true });
}
