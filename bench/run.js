#!/usr/bin/env node
// Conversions, h2k against qemu-img in the same run on the same seeded disks: medians of N runs
// interleaved (h2k, qemu-img, qemu-img + fsync of its output, one after the other), with the
// spread, CPU, peak RSS and MB/s of guest data, on both cores and on one (taskset -c 0), for a
// 64 MiB, a 1 GiB (490 MiB written) and an 8 GiB (2 GiB written) monolithicSparse disk and a
// 1 GiB streamOptimized one. Every output is checked with `qemu-img compare`.
//
//   node bench/run.js [--repeat 5] [--runner cli|native] [--only id,id] [--no-large]
//
// Like with like: h2k fsyncs its output before it returns; qemu-img does not (its target cache
// mode is "unsafe"), so qemu-img is shown as is and followed by an fsync of its output; the
// targets are read against the fsync'ed time. ratio = h2k time / qemu-img time (lower is better).
// `--runner cli` (default) times `h2k convert` as a user runs it, Node's start included;
// `--runner native` times the engine alone (build/h2k-native).
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  MiB, flag, fsyncFile, h2kCli, machine, markdownTable, median, option, repo, secondsWithSpread, shellLine, timed, writeResults,
} from './lib/measure.js';
import { fixture, gibDisks, h2kConvertArgv, verifyOutput, work } from './lib/vmdk-fixtures.js';

const repeat = Math.max(1, Number(option('repeat', '5')));
const runnerName = option('runner', 'cli');
const only = option('only', '').split(',').filter(Boolean);

function nativeTool() {
  const candidates = [process.env.H2K_NATIVE_TOOL, join(repo, 'build/h2k-native'), join(repo, 'build/Release/h2k-native')];
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) throw new Error(`h2k-native not found (${candidates.filter(Boolean).join(', ')}); run npm run build`);
  return found;
}

const runners = {
  native: (src, out, c) => [nativeTool(), 'convert', src, out, 'qcow2', c.compression, '0', '65536'],
  cli: (src, out, c) => h2kConvertArgv(h2kCli, src, out, c.compression),
};
if (!runners[runnerName]) throw new Error(`--runner ${runnerName}: use cli or native`);

const MAX_RSS_MIB = 256;
const QCOW2_ZSTD = ['-c', '-o', 'compression_type=zstd'];
/** Targets of the performance issue; `maxRatio` is h2k / (qemu-img + fsync). */
function cases(large) {
  const lazy = (make) => { let v; return () => (v ??= make()); };
  const small = lazy(() => fixture('small', 64, 5, ['monolithicSparse']));
  const gib = lazy(gibDisks);
  const all = [
    { id: 'ms-none', label: '1 GiB monolithicSparse → qcow2', src: gib, sub: 'monolithicSparse', compression: 'none', qemu: [], maxRatio: 0.75 },
    { id: 'ms-zlib', label: '1 GiB monolithicSparse → qcow2 zlib (`-c`)', src: gib, sub: 'monolithicSparse', compression: 'zlib', qemu: ['-c'], maxRatio: 0.3 },
    { id: 'ms-zstd', label: '1 GiB monolithicSparse → qcow2 zstd', src: gib, sub: 'monolithicSparse', compression: 'zstd', qemu: QCOW2_ZSTD, maxRatio: 0.5 },
    { id: 'so-none', label: '1 GiB streamOptimized → qcow2', src: gib, sub: 'streamOptimized', compression: 'none', qemu: [], maxRatio: 0.5 },
    { id: 'ms-none-1cpu', label: '1 GiB monolithicSparse → qcow2, one core', src: gib, sub: 'monolithicSparse', compression: 'none', qemu: [], maxRatio: 1, oneCore: true },
    { id: 'ms-zlib-1cpu', label: '1 GiB monolithicSparse → qcow2 zlib, one core', src: gib, sub: 'monolithicSparse', compression: 'zlib', qemu: ['-c'], maxRatio: 1, oneCore: true },
    { id: 'ms-zstd-1cpu', label: '1 GiB monolithicSparse → qcow2 zstd, one core', src: gib, sub: 'monolithicSparse', compression: 'zstd', qemu: QCOW2_ZSTD, maxRatio: 1, oneCore: true },
    { id: 'so-none-1cpu', label: '1 GiB streamOptimized → qcow2, one core', src: gib, sub: 'streamOptimized', compression: 'none', qemu: [], maxRatio: 1, oneCore: true },
    // Node's start (~60 ms) is most of a 64 MiB conversion: this row is about memory, not ratio.
    { id: 'small-none', label: '64 MiB monolithicSparse → qcow2', src: small, sub: 'monolithicSparse', compression: 'none', qemu: [], maxRatio: Infinity },
  ];
  if (large) {
    const big = lazy(() => fixture('large', 8192, 7, ['monolithicSparse']));
    all.push({ id: 'large-none', label: '8 GiB monolithicSparse → qcow2', src: big, sub: 'monolithicSparse', compression: 'none', qemu: [], maxRatio: 0.75 });
  }
  return all.filter((c) => !only.length || only.includes(c.id));
}

const pin = (c, argv) => (c.oneCore ? ['taskset', '-c', '0', ...argv] : argv);

function runCase(c) {
  c.src = c.src();
  const src = c.src.paths[c.sub];
  const h2kOut = join(work, `h2k-${c.id}.qcow2`);
  const qemuOut = join(work, `qemu-${c.id}.qcow2`);
  const h2kArgv = pin(c, runners[runnerName](src, h2kOut, c));
  const qemuArgv = pin(c, ['qemu-img', 'convert', '-O', 'qcow2', ...c.qemu, src, qemuOut]);
  const runs = { h2k: [], qemu: [], qemuSync: [] };
  for (let i = 0; i < repeat; i++) {
    rmSync(h2kOut, { force: true });
    runs.h2k.push(timed(h2kArgv));
    if (i === 0) verifyOutput(src, h2kOut);
    rmSync(h2kOut, { force: true });
    rmSync(qemuOut, { force: true });
    const q = timed(qemuArgv);
    const t0 = process.hrtime.bigint();
    fsyncFile(qemuOut);
    runs.qemu.push(q);
    runs.qemuSync.push({ ...q, seconds: q.seconds + Number(process.hrtime.bigint() - t0) / 1e9 });
    rmSync(qemuOut, { force: true });
  }
  const secs = (k) => runs[k].map((r) => r.seconds);
  const h2k = median(secs('h2k'));
  const ratioSync = h2k / median(secs('qemuSync'));
  const rss = Math.max(...runs.h2k.map((r) => r.rssMiB));
  const ratioTarget = Number.isFinite(c.maxRatio) ? `≤ ${c.maxRatio}× qemu-img + fsync, ` : '';
  return {
    id: c.id, label: c.label, target: `${ratioTarget}RSS < ${MAX_RSS_MIB} MiB`, met: ratioSync <= c.maxRatio && rss < MAX_RSS_MIB,
    h2kSeconds: secs('h2k'), qemuSeconds: secs('qemu'), qemuFsyncSeconds: secs('qemuSync'),
    ratio: h2k / median(secs('qemu')), ratioFsync: ratioSync,
    guestMBps: c.src.allocated / 1e6 / h2k,
    h2kCpuSeconds: median(runs.h2k.map((r) => r.cpuSeconds)), qemuCpuSeconds: median(runs.qemu.map((r) => r.cpuSeconds)),
    h2kPeakRssMiB: rss, qemuPeakRssMiB: Math.max(...runs.qemu.map((r) => r.rssMiB)),
    virtualMiB: c.src.sizeMiB, allocatedMiB: c.src.allocated / MiB,
    commands: [shellLine(h2kArgv), shellLine(qemuArgv) + ' && sync'],
  };
}

function main() {
  const m = machine();
  const qemuVersion = execFileSync('qemu-img', ['--version'], { encoding: 'utf8' }).split('\n')[0].replace('qemu-img version ', '');
  const results = [];
  for (const c of cases(!flag('no-large'))) {
    console.error(`running ${c.id} (${repeat}x)...`);
    results.push(runCase(c));
  }
  const f = (n, d = 2) => n.toFixed(d);
  console.log(`h2k (${runnerName === 'cli' ? '`h2k convert`, Node start included' : 'native engine alone'}) vs qemu-img ${qemuVersion}; ` +
    `${m.cpus} × ${m.model}; medians of ${repeat} interleaved runs (min..max); load average ${f(m.loadAtStart)} at start; ${m.date}\n`);
  console.log(markdownTable(
    ['case', 'h2k', 'qemu-img', 'qemu-img + fsync', 'h2k / qemu-img', 'h2k / (qemu-img + fsync)', 'guest data MB/s', 'h2k CPU s', 'qemu CPU s', 'h2k peak RSS MiB', 'target', 'met'],
    results.map((r) => [r.label, secondsWithSpread(r.h2kSeconds), secondsWithSpread(r.qemuSeconds), secondsWithSpread(r.qemuFsyncSeconds),
      `${f(r.ratio)}×`, `${f(r.ratioFsync)}×`, f(r.guestMBps, 0), f(r.h2kCpuSeconds), f(r.qemuCpuSeconds), f(r.h2kPeakRssMiB, 0), r.target, r.met ? 'yes' : 'NO']),
  ));
  const rss = results.filter((r) => /^(small|ms|large)-none$/.test(r.id)).map((r) => `${r.virtualMiB} MiB: ${f(r.h2kPeakRssMiB, 0)} MiB`);
  console.log(`\nPeak RSS by virtual size (target < 256 MiB and flat): ${rss.join(', ')}`);
  console.log('\nCommands (one run each, per case):');
  for (const r of results) console.log(`- ${r.id}: \`${r.commands[0]}\` vs \`${r.commands[1]}\``);
  writeResults('convert', {
    ...m, runner: runnerName, repeat, qemuVersion, results,
    summary: results.map((r) => ({
      work: r.label, h2k: secondsWithSpread(r.h2kSeconds), peer: `qemu-img ${secondsWithSpread(r.qemuSeconds)} / + fsync ${secondsWithSpread(r.qemuFsyncSeconds)}`,
      ratio: `${f(r.ratio)}× / ${f(r.ratioFsync)}×`, target: r.target, met: r.met, commands: r.commands,
    })),
  });
}

main();
