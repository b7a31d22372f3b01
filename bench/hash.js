#!/usr/bin/env node
// Hashing throughput, h2k vs the classic tools, timed in the same run on the same 1 GiB file
// of seeded random bytes (page cache warm for everyone): MD5 vs md5sum, XXH3 vs xxhsum -H3,
// plus the cost of `convert --hash xxh3` over a plain convert of the same source, for a raw
// source (file hash = content hash, one pass) and a sparse VMDK (file and content hashed apart,
// holes hashed as zeros).
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

async function timeConvert(addon, src, out, hash, compression = 'none') {
  rmSync(out, { force: true });
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
const gibps = (s) => SIZE / s / 1024 ** 3;

async function main() {
  const addon = loadAddon();
  const file = prepare();
  // Convert into tmpfs when there is one: the hash overhead is CPU work, and 1 GiB of fsync'ed
  // disk writes would drown it in writeback noise.
  const outDir = existsSync('/dev/shm') ? '/dev/shm' : work;
  const out = join(outDir, `h2k-bench-hash-${process.pid}.qcow2`);
  // Warm the page cache so every contender reads from memory.
  timeTool('md5sum', [file]);
  const vmdk = prepareSparseVmdk();
  timeTool('md5sum', [vmdk]);
  const runs = { md5sum: [], h2kMd5: [], xxhsum: [], h2kXxh3: [], convert: [], convertHash: [], vmdkConvert: [], vmdkConvertHash: [], zstdConvert: [], zstdConvertHash: [] };
  for (let i = 0; i < repeat; i++) {
    runs.md5sum.push(timeTool('md5sum', [file]));
    runs.h2kMd5.push(await timeH2kHash(addon, file, 'md5'));
    runs.xxhsum.push(timeTool('xxhsum', ['-H3', file]));
    runs.h2kXxh3.push(await timeH2kHash(addon, file, 'xxh3'));
    runs.convert.push(await timeConvert(addon, file, out, false));
    runs.convertHash.push(await timeConvert(addon, file, out, true));
    runs.vmdkConvert.push(await timeConvert(addon, vmdk, out, false));
    runs.vmdkConvertHash.push(await timeConvert(addon, vmdk, out, true));
    runs.zstdConvert.push(await timeConvert(addon, vmdk, out, false, 'zstd'));
    runs.zstdConvertHash.push(await timeConvert(addon, vmdk, out, true, 'zstd'));
  }
  // Same digests or the timing means nothing.
  if (runs.md5sum[0].hex !== runs.h2kMd5[0].hex) throw new Error(`md5 mismatch: ${runs.md5sum[0].hex} vs ${runs.h2kMd5[0].hex}`);
  if (runs.xxhsum[0].hex !== runs.h2kXxh3[0].hex) throw new Error(`xxh3 mismatch: ${runs.xxhsum[0].hex} vs ${runs.h2kXxh3[0].hex}`);
  if (runs.convertHash[0].hex !== runs.xxhsum[0].hex) throw new Error('convert --hash xxh3 content hash differs from xxhsum -H3 of the source');

  const md5Ratio = best(runs.md5sum) / best(runs.h2kMd5);       // throughput ratio h2k / tool
  const xxh3Ratio = best(runs.xxhsum) / best(runs.h2kXxh3);
  const convertOverhead = best(runs.convertHash) / best(runs.convert) - 1;
  const vmdkOverhead = best(runs.vmdkConvertHash) / best(runs.vmdkConvert) - 1;
  const zstdOverhead = best(runs.zstdConvertHash) / best(runs.zstdConvert) - 1;
  const verdict = (o) => `${(o * 100).toFixed(1)}% (target < 5% ${o < 0.05 ? 'ok' : 'MISSED'})`;
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
    `| conversion -> qcow2 in ${outDir} | plain | --hash xxh3 (source + content) | overhead |`,
    '|---|---|---|---|',
    `| 1 GiB random raw | ${best(runs.convert).toFixed(3)} s | ${best(runs.convertHash).toFixed(3)} s | ${verdict(convertOverhead)} |`,
    `| 1 GiB sparse VMDK (monolithicSparse) | ${best(runs.vmdkConvert).toFixed(3)} s | ${best(runs.vmdkConvertHash).toFixed(3)} s | ${verdict(vmdkOverhead)} |`,
    `| 1 GiB sparse VMDK -> qcow2 zstd (-c zstd) | ${best(runs.zstdConvert).toFixed(3)} s | ${best(runs.zstdConvertHash).toFixed(3)} s | ${verdict(zstdOverhead)} |`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    join(resultsDir, 'hash.json'),
    JSON.stringify({
      date: new Date().toISOString(), bytes: SIZE, repeat, cores: cpus().length, load: loadavg(),
      seconds: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.map((r) => r.s)])),
      md5ThroughputRatio: md5Ratio, xxh3ThroughputRatio: xxh3Ratio, convertHashOverhead: convertOverhead,
      vmdkConvertHashOverhead: vmdkOverhead, zstdConvertHashOverhead: zstdOverhead, targets: { md5: 0.95, xxh3: 0.9, convertHashOverhead: 0.05 },
    }, null, 2) + '\n',
  );
}

main().catch((err) => {
  process.stderr.write(`bench/hash.js: ${err.stack ?? err}\n`);
  process.exit(1);
});
