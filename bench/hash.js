#!/usr/bin/env node
// Hashing throughput, h2k vs the classic tools, timed in the same run on the same 1 GiB file
// of seeded random bytes (page cache warm for everyone): MD5 vs md5sum, XXH3 vs xxhsum -H3,
// plus the cost of `convert --hash xxh3` over a plain convert of the same source, for a raw
// source (file hash = content hash, one pass) and a sparse VMDK (file and content hashed apart,
// holes hashed as zeros): once as users run it (source not in the page cache, output on disk)
// and once CPU-bound (source cached, output in tmpfs), the worst case for the hash's share.
// Prints a Markdown table and writes bench/results/hash.json.
//
//   node bench/hash.js [--repeat N]        (best of N runs each, interleaved; default 3)
//
// h2k is measured in-process through the addon (hashFile / convert), so Node's start-up time
// is not counted; md5sum/xxhsum are timed as processes (their start-up is ~1 ms).
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const work = join(here, 'work');
const resultsDir = join(here, 'results');
const MiB = 1024 * 1024;
const SIZE = 1024 * MiB;
const SEED = 4242;

const args = process.argv.slice(2);
const repeatAt = args.indexOf('--repeat');
const repeat = Math.max(1, repeatAt >= 0 ? Number(args[repeatAt + 1]) : 3);

function loadAddon() {
  const candidates = [process.env.H2K_NATIVE_ADDON, join(repo, 'build/Release/h2k_native.node'), join(repo, 'build/h2k_native.node')];
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) throw new Error('h2k native addon not found; run npm run build');
  return createRequire(import.meta.url)(found);
}

/** 1 GiB of xorshift bytes, written once and reused by later runs. */
function prepare() {
  mkdirSync(work, { recursive: true });
  const path = join(work, `hash-${SEED}.bin`);
  if (existsSync(path) && statSync(path).size === SIZE) return path;
  const fd = openSync(path, 'w');
  let x = SEED;
  const block = Buffer.alloc(MiB);
  try {
    for (let off = 0; off < SIZE; off += MiB) {
      for (let i = 0; i < MiB; i += 4) {
        x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
        block.writeUInt32LE(x, i);
      }
      writeSync(fd, block, 0, MiB, off);
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

/** A 1 GiB monolithicSparse VMDK of the seeded stripe pattern (text, random, zeros, holes). */
function prepareSparseVmdk() {
  const vmdk = join(work, `hash-sparse-${SEED}.vmdk`);
  if (existsSync(vmdk)) return vmdk;
  const raw = join(work, `hash-sparse-${SEED}.raw`);
  execFileSync(process.execPath, [join(repo, 'scripts/make-seeded-raw.js'), raw, '1024', String(SEED)]);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicSparse', raw, `${vmdk}.partial`]);
  execFileSync('mv', [`${vmdk}.partial`, vmdk]);
  rmSync(raw, { force: true });
  return vmdk;
}

function timeTool(cmd, argv) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 20 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} failed (is it installed? md5sum: coreutils, xxhsum: Debian package xxhash)`);
  const out = r.stdout.trim();
  const hex = (/= ([0-9a-f]+)$/.exec(out) ?? /^([0-9a-f]+) /.exec(out))[1];
  return { s, hex };
}

async function timeH2kHash(addon, path, algo) {
  const t0 = process.hrtime.bigint();
  const r = await addon.hashFile(path, [algo]).promise;
  return { s: Number(process.hrtime.bigint() - t0) / 1e9, hex: r.digests[algo] };
}

/** Drops `path` from the page cache (GNU dd: nocache with count=0 covers the whole file). */
function evict(path) {
  execFileSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
}

async function timeConvert(addon, src, out, hash, compression = 'none', cold = false) {
  rmSync(out, { force: true });
  if (cold) evict(src);
  const t0 = process.hrtime.bigint();
  const r = await addon.convert({
    source: src, output: out, outputFormat: 'qcow2', compression, clusterSize: 65536, threads: 2,
    force: true, allowExternalPaths: false, sourceFormat: '', hashAlgorithms: hash ? ['xxh3'] : [],
  }).promise;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  rmSync(out, { force: true });
  return { s, hex: r.contentHashes.xxh3 };
}

const best = (runs) => Math.min(...runs.map((r) => r.s));
const median = (runs) => {
  const s = runs.map((r) => r.s).sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const gibps = (s) => SIZE / s / 1024 ** 3;

async function main() {
  const addon = loadAddon();
  const file = prepare();
  // Convert into tmpfs when there is one: the hash overhead is CPU work, and 1 GiB of fsync'ed
  // disk writes would drown it in writeback noise.
  const outDir = existsSync('/dev/shm') ? '/dev/shm' : work;
  const out = join(outDir, `h2k-bench-hash-${process.pid}.qcow2`);
  const diskOut = join(work, `h2k-bench-hash-${process.pid}.qcow2`);
  // Warm the page cache so every contender reads from memory.
  timeTool('md5sum', [file]);
  const vmdk = prepareSparseVmdk();
  timeTool('md5sum', [vmdk]);
  const runs = { md5sum: [], h2kMd5: [], xxhsum: [], h2kXxh3: [], convert: [], convertHash: [], vmdkConvert: [], vmdkConvertHash: [], zstdConvert: [], zstdConvertHash: [], coldConvert: [], coldConvertHash: [] };
  for (let i = 0; i < repeat; i++) {
    runs.md5sum.push(timeTool('md5sum', [file]));
    runs.h2kMd5.push(await timeH2kHash(addon, file, 'md5'));
    runs.xxhsum.push(timeTool('xxhsum', ['-H3', file]));
    runs.h2kXxh3.push(await timeH2kHash(addon, file, 'xxh3'));
    // Plain and hashed alternate which goes first, so neither always inherits the other's cache.
    const pair = async (plainKey, hashKey, timeOne) => {
      for (const hash of i % 2 ? [true, false] : [false, true]) runs[hash ? hashKey : plainKey].push(await timeOne(hash));
    };
    await pair('convert', 'convertHash', (h) => timeConvert(addon, file, out, h));
    await pair('vmdkConvert', 'vmdkConvertHash', (h) => timeConvert(addon, vmdk, out, h));
    await pair('zstdConvert', 'zstdConvertHash', (h) => timeConvert(addon, vmdk, out, h, 'zstd'));
    await pair('coldConvert', 'coldConvertHash', (h) => timeConvert(addon, vmdk, diskOut, h, 'none', true));
  }
  timeTool('md5sum', [vmdk]);  // leave the page cache as found
  // Same digests or the timing means nothing.
  if (runs.md5sum[0].hex !== runs.h2kMd5[0].hex) throw new Error(`md5 mismatch: ${runs.md5sum[0].hex} vs ${runs.h2kMd5[0].hex}`);
  if (runs.xxhsum[0].hex !== runs.h2kXxh3[0].hex) throw new Error(`xxh3 mismatch: ${runs.xxhsum[0].hex} vs ${runs.h2kXxh3[0].hex}`);
  if (runs.convertHash[0].hex !== runs.xxhsum[0].hex) throw new Error('convert --hash xxh3 content hash differs from xxhsum -H3 of the source');

  const md5Ratio = best(runs.md5sum) / best(runs.h2kMd5);       // throughput ratio h2k / tool
  const xxh3Ratio = best(runs.xxhsum) / best(runs.h2kXxh3);
  const convertOverhead = best(runs.convertHash) / best(runs.convert) - 1;
  const vmdkOverhead = best(runs.vmdkConvertHash) / best(runs.vmdkConvert) - 1;
  const zstdOverhead = best(runs.zstdConvertHash) / best(runs.zstdConvert) - 1;
  const coldOverhead = best(runs.coldConvertHash) / best(runs.coldConvert) - 1;
  const medianOverhead = (plain, hashed) => median(runs[hashed]) / median(runs[plain]) - 1;
  const pct = (o) => `${o >= 0 ? '+' : ''}${(o * 100).toFixed(1)}%`;
  const verdict = (o, plain, hashed) =>
    `${pct(o)} (median ${pct(medianOverhead(plain, hashed))}; target < 5% ${o < 0.05 ? 'ok' : 'MISSED'})`;
  const row = (label, plain, hashed) =>
    `| ${label} | ${best(runs[plain]).toFixed(3)} s | ${best(runs[hashed]).toFixed(3)} s | ${verdict(best(runs[hashed]) / best(runs[plain]) - 1, plain, hashed)} |`;
  const rows = [
    ['MD5', 'md5sum', best(runs.h2kMd5), best(runs.md5sum), md5Ratio, 0.95],
    ['XXH3-64', 'xxhsum -H3', best(runs.h2kXxh3), best(runs.xxhsum), xxh3Ratio, 0.9],
  ];
  const lines = [
    `Hashing 1 GiB (page cache warm), best of ${repeat}; ${cpus().length} cores, load ${loadavg()[0].toFixed(2)}`,
    '',
    '| algorithm | h2k | reference | h2k GiB/s | reference GiB/s | h2k / reference | target |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(([a, tool, h, t, ratio, target]) =>
      `| ${a} | ${h.toFixed(3)} s | ${tool} ${t.toFixed(3)} s | ${gibps(h).toFixed(2)} | ${gibps(t).toFixed(2)} | ${(ratio * 100).toFixed(0)}% | >= ${target * 100}% ${ratio >= target ? 'ok' : 'MISSED'} |`),
    '',
    `| conversion -> qcow2 (best of ${repeat}) | plain | --hash xxh3 (source + content) | overhead |`,
    '|---|---|---|---|',
    row('1 GiB sparse VMDK (monolithicSparse), source not cached, output on disk', 'coldConvert', 'coldConvertHash'),
    row(`1 GiB random raw, cached, output in ${outDir}`, 'convert', 'convertHash'),
    row(`1 GiB sparse VMDK, cached, output in ${outDir}`, 'vmdkConvert', 'vmdkConvertHash'),
    row(`1 GiB sparse VMDK, cached, -c zstd, output in ${outDir}`, 'zstdConvert', 'zstdConvertHash'),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    join(resultsDir, 'hash.json'),
    JSON.stringify({
      date: new Date().toISOString(), bytes: SIZE, repeat, cores: cpus().length, load: loadavg(),
      seconds: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.map((r) => r.s)])),
      md5ThroughputRatio: md5Ratio, xxh3ThroughputRatio: xxh3Ratio, convertHashOverhead: convertOverhead,
      vmdkConvertHashOverhead: vmdkOverhead, zstdConvertHashOverhead: zstdOverhead, coldConvertHashOverhead: coldOverhead, targets: { md5: 0.95, xxh3: 0.9, convertHashOverhead: 0.05 },
    }, null, 2) + '\n',
  );
}

main().catch((err) => {
  process.stderr.write(`bench/hash.js: ${err.stack ?? err}\n`);
  process.exit(1);
});
