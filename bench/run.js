#!/usr/bin/env node
// h2k vs qemu-img, timed in the same run on the same seeded 1 GiB disk (about half allocated:
// random, text and explicit-zero runs between holes), as monolithicSparse and streamOptimized
// VMDK. Prints a Markdown table and writes bench/results/latest.json.
//
//   npm run bench [-- --repeat N] [--runner native]     (H2K_NATIVE_TOOL overrides the tool path)
//
// Fairness: h2k fsyncs its output before returning; qemu-img does not (its target cache mode
// is "unsafe"), so qemu-img is timed twice: as is, and followed by an fsync of its output.
// The ratios use the fsync'ed qemu time; the plain one is reported too.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, fsyncSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const work = join(here, 'work');
const resultsDir = join(here, 'results');
const MiB = 1024 * 1024;
const SIZE = 1024 * MiB;
const SEED = 20261123;

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const repeat = Math.max(1, Number(opt('repeat', '1')));
const runnerName = opt('runner', 'native');

function nativeTool() {
  const candidates = [process.env.H2K_NATIVE_TOOL, join(repo, 'build/h2k-native'), join(repo, 'build/Release/h2k-native')];
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) throw new Error(`h2k-native not found (${candidates.filter(Boolean).join(', ')}); run npm run build`);
  return found;
}

// How h2k is invoked. Each runner maps a conversion to an argv; the CLI runner can be added
// next to the native one without touching the timing code.
const runners = {
  native: (src, out, o) => [nativeTool(), 'convert', src, out, 'qcow2', o.compression, String(o.threads ?? 0), '65536'],
  cli: (src, out, o) => [process.execPath, join(repo, 'bin/h2k.js'), 'convert', src, '-o', out, '-O', 'qcow2',
    ...(o.compression === 'none' ? [] : ['-c', o.compression]), '--force', '--json'],
};

/** xorshift32 stream: reproducible bytes, not cryptography. */
function makeRng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

function randomBlock(rng, len) {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i += 4) b.writeUInt32LE(rng(), i);
  return b;
}

function textBlock(rng, len) {
  const words = ['disk', 'cluster', 'kernel', 'grain', 'sector', 'boot', 'qcow2', 'vmdk', 'initramfs', 'fstab', 'the', 'of', 'and', 'a'];
  const parts = [];
  let n = 0;
  while (n < len) {
    const line = `${rng() % 100000} ${Array.from({ length: 8 }, () => words[rng() % words.length]).join(' ')}\n`;
    parts.push(line);
    n += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, len);
}

/** 1 GiB raw: 1 MiB blocks, 50% holes, 20% text, 20% random, 10% explicit zeros. */
function buildRaw(path) {
  const rng = makeRng(SEED);
  const fd = openSync(path, 'w');
  let allocated = 0;
  try {
    ftruncateSync(fd, SIZE);
    for (let off = 0; off < SIZE; off += MiB) {
      const r = rng() % 10;
      if (r < 5) continue;
      const block = r < 7 ? textBlock(rng, MiB) : r < 9 ? randomBlock(rng, MiB) : Buffer.alloc(MiB);
      writeSync(fd, block, 0, block.length, off);
      allocated += MiB;
    }
  } finally {
    closeSync(fd);
  }
  return allocated;
}

function prepare() {
  mkdirSync(work, { recursive: true });
  const stamp = join(work, `fixture-${SEED}.ok`);
  const raw = join(work, 'src.raw');
  const ms = join(work, 'src-monolithicSparse.vmdk');
  const so = join(work, 'src-streamOptimized.vmdk');
  if (!existsSync(stamp) || ![raw, ms, so].every((p) => existsSync(p))) {
    console.error('building the 1 GiB seeded fixture (once; cached in bench/work)...');
    const allocated = buildRaw(raw);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicSparse', raw, ms]);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, so]);
    writeFileSync(stamp, JSON.stringify({ allocated }));
  }
  return { raw, ms, so, allocated: JSON.parse(readFileSync(stamp, 'utf8')).allocated };
}

function fsyncFile(path) {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Runs argv under /usr/bin/time; returns wall seconds and peak RSS (KiB). */
function timed(argv) {
  const timeFile = join(work, 'time.out');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, ...argv], { encoding: 'utf8', maxBuffer: 16 * MiB });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  const [, user, sys, rss] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-4);
  return { seconds: wall, cpuSeconds: Number(user) + Number(sys), rssKiB: Number(rss) };
}

function verify(src, out) {
  const r = spawnSync('qemu-img', ['compare', src, out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`output differs from source: ${out}: ${r.stdout}${r.stderr}`);
}

function benchCase(c, srcs) {
  const src = srcs[c.source];
  const h2kOut = join(work, `h2k-${c.id}.qcow2`);
  const qemuOut = join(work, `qemu-${c.id}.qcow2`);
  const best = { h2k: null, qemu: null, qemuSync: null };
  for (let i = 0; i < repeat; i++) {
    rmSync(h2kOut, { force: true });
    const h = timed(runners[runnerName](src, h2kOut, c));
    rmSync(qemuOut, { force: true });
    const q = timed(['qemu-img', 'convert', '-O', 'qcow2', ...c.qemuArgs, src, qemuOut]);
    const t0 = process.hrtime.bigint();
    fsyncFile(qemuOut);
    const qs = { ...q, seconds: q.seconds + Number(process.hrtime.bigint() - t0) / 1e9 };
    if (!best.h2k || h.seconds < best.h2k.seconds) best.h2k = h;
    if (!best.qemu || q.seconds < best.qemu.seconds) best.qemu = q;
    if (!best.qemuSync || qs.seconds < best.qemuSync.seconds) best.qemuSync = qs;
  }
  verify(src, h2kOut);
  const h2kBytes = statSync(h2kOut).size;
  const qemuBytes = statSync(qemuOut).size;
  rmSync(h2kOut, { force: true });
  rmSync(qemuOut, { force: true });
  return {
    id: c.id,
    label: c.label,
    h2kSeconds: best.h2k.seconds,
    qemuSeconds: best.qemu.seconds,
    qemuFsyncSeconds: best.qemuSync.seconds,
    speedup: best.qemuSync.seconds / best.h2k.seconds,
    speedupNoFsync: best.qemu.seconds / best.h2k.seconds,
    h2kCpuSeconds: best.h2k.cpuSeconds,
    qemuCpuSeconds: best.qemu.cpuSeconds,
    h2kPeakRssMiB: best.h2k.rssKiB / 1024,
    qemuPeakRssMiB: best.qemu.rssKiB / 1024,
    h2kBytes,
    qemuBytes,
    sizeRatio: h2kBytes / qemuBytes,
    target: c.target,
  };
}

function main() {
  const srcs = prepare();
  const cases = [
    { id: 'ms-none', label: 'monolithicSparse → qcow2', source: 'ms', compression: 'none', qemuArgs: [], target: 'speedup ≥ 1.0' },
    { id: 'ms-zlib', label: 'monolithicSparse → qcow2 zlib', source: 'ms', compression: 'zlib', qemuArgs: ['-c'], target: 'speedup ≥ 2, size ≤ 1.05' },
    { id: 'ms-zstd', label: 'monolithicSparse → qcow2 zstd', source: 'ms', compression: 'zstd', qemuArgs: ['-c', '-o', 'compression_type=zstd'], target: 'speedup ≥ 2, size ≤ 1.05' },
    { id: 'so-none', label: 'streamOptimized → qcow2', source: 'so', compression: 'none', qemuArgs: [], target: 'speedup ≥ 1.3' },
  ];
  const only = opt('only', '');
  const results = [];
  for (const c of cases) {
    if (only && !only.split(',').includes(c.id)) continue;
    console.error(`running ${c.id}...`);
    results.push(benchCase(c, srcs));
  }
  const f = (n, d = 2) => n.toFixed(d);
  const lines = [
    `h2k (${runnerName}) vs qemu-img ${execFileSync('qemu-img', ['--version'], { encoding: 'utf8' }).split('\n')[0].replace('qemu-img version ', '')}, ` +
      `1 GiB virtual, ${f(srcs.allocated / MiB, 0)} MiB allocated, ${cpus().length} CPUs, best of ${repeat}, ` +
      `load average ${loadavg()[0].toFixed(1)} at the end (speedup = qemu-img+fsync / h2k wall time; CPU = user+sys)`,
    '',
    '| case | h2k s | qemu-img s | qemu-img+fsync s | speedup | h2k CPU s | qemu CPU s | h2k RSS MiB | qemu RSS MiB | h2k MiB | qemu MiB | size ratio | target |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...results.map((r) =>
      `| ${r.label} | ${f(r.h2kSeconds)} | ${f(r.qemuSeconds)} | ${f(r.qemuFsyncSeconds)} | ${f(r.speedup)}x | ${f(r.h2kCpuSeconds)} | ${f(r.qemuCpuSeconds)} | ${f(r.h2kPeakRssMiB, 0)} | ${f(r.qemuPeakRssMiB, 0)} | ${f(r.h2kBytes / MiB, 1)} | ${f(r.qemuBytes / MiB, 1)} | ${f(r.sizeRatio, 3)} | ${r.target} |`),
  ];
  console.log(lines.join('\n'));
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'latest.json'), JSON.stringify({
    date: new Date().toISOString(), runner: runnerName, repeat, cpus: cpus().length,
    virtualSize: SIZE, allocatedBytes: srcs.allocated, results,
  }, null, 2));
}

main();
