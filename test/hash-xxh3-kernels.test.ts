// The XXH3 builds (baseline SSE2, AVX2, AVX-512, picked at run time), their zero-run fast path
// and their block-sum path (the conversion's workers sum each KiB, the writer folds them in),
// against xxhsum on files holding the same bytes. Each build runs in a child process (the
// choice is made once per process; H2K_XXH3_ISA caps it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { addonPath } from '../src/native/addon.js';
import { toolDigest } from './helpers/hash-oracles.js';
import { tempDir } from './helpers/fixtures.js';
import { seededBytes } from './helpers/seeded-bytes.js';

const MiB = 1024 * 1024;

/**
 * prefix bytes (seeded, never zero), then zero runs fed one updateZeros call each, then
 * `presummed` seeded bytes fed through updatePresummed (block sums, then the fold), then suffix bytes.
 */
interface Case {
  prefix: number;
  runs: number[];
  presummed?: number;
  suffix: number;
}

// Around the fast path's edges: its 4 KiB threshold, XXH3's 64-byte stripes, 256-byte buffer and
// 1 KiB blocks, back-to-back runs, a run at the very start and at the very end, and a run past 4 GiB.
const CASES: Case[] = [
  { prefix: 0, runs: [4096], suffix: 0 },
  { prefix: 0, runs: [4095], suffix: 1 },
  { prefix: 1, runs: [4097], suffix: 0 },
  { prefix: 63, runs: [65_536], suffix: 64 },
  { prefix: 256, runs: [1_000_000], suffix: 255 },
  { prefix: 1024, runs: [1024 * 37 + 5], suffix: 1025 },
  { prefix: 5000, runs: [3 * MiB + 7, 4096, 10], suffix: 300 },
  { prefix: 100, runs: [MiB, MiB], suffix: 0 },
  { prefix: 77, runs: [4.5 * 1024 * MiB + 3], suffix: 4096 },
  // Block sums apply to KiB-aligned streams of 2+ KiB; everything else must fall back unharmed.
  { prefix: 0, runs: [], presummed: 2048, suffix: 0 },
  { prefix: 1024, runs: [], presummed: MiB, suffix: 1 },
  { prefix: 0, runs: [64 * 1024], presummed: 3 * MiB, suffix: 63 },
  { prefix: 3072, runs: [4096], presummed: 1024, suffix: 64 },
  { prefix: 100, runs: [], presummed: 8192, suffix: 1000 },
  { prefix: 924, runs: [], presummed: 65_536 + 1024, suffix: 0 },
  { prefix: 2048, runs: [4095, 1], presummed: 5 * 1024 + 512, suffix: 300 },
];

const noise = (len: number, seed: number): Buffer => seededBytes(len, seed, true);

/** The same bytes as a file (zero runs as holes), for xxhsum. */
function writeCaseFile(path: string, c: Case, seed: number): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, noise(c.prefix, seed), 0, c.prefix, 0);
    const zeros = c.runs.reduce((a, b) => a + b, 0);
    const presummed = c.presummed ?? 0;
    ftruncateSync(fd, c.prefix + zeros);
    writeSync(fd, noise(presummed, seed + 100), 0, presummed, c.prefix + zeros);
    writeSync(fd, noise(c.suffix, seed + 1), 0, c.suffix, c.prefix + zeros + presummed);
  } finally {
    closeSync(fd);
  }
}

interface ChildReport {
  isa: string;
  fastPath: boolean;
  blockSums: boolean;
  digests: { xxh3: string; xxh128: string }[];
}

/** Hashes every case in a child process whose XXH3 build is capped by H2K_XXH3_ISA. */
function hashInChild(cap: string | undefined, casesFile: string): ChildReport {
  const script = `
    const addon = require(${JSON.stringify(addonPath())});
    const cases = JSON.parse(require('fs').readFileSync(${JSON.stringify(casesFile)}, 'utf8'));
    const seededBytes = ${seededBytes.toString()};
    const noise = (len, seed) => seededBytes(len, seed, true);
    const digests = cases.map((c, i) => {
      const h = addon.createHasher(['xxh3', 'xxh128']);
      h.update(noise(c.prefix, 2 * i + 1));
      for (const run of c.runs) h.updateZeros(run);
      if (c.presummed) h.updatePresummed(noise(c.presummed, 2 * i + 101));
      h.update(noise(c.suffix, 2 * i + 2));
      return h.digest();
    });
    const impl = addon.hashImplementation();
    process.stdout.write(JSON.stringify({ isa: impl.xxh3Isa, fastPath: impl.xxh3ZeroRunFastPath, blockSums: impl.xxh3BlockSums, digests }));`;
  const env = { ...process.env };
  if (cap) env.H2K_XXH3_ISA = cap;
  else delete env.H2K_XXH3_ISA;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8', maxBuffer: 1 << 20 })) as ChildReport;
}

let tmp: ReturnType<typeof tempDir>;
const expected: { xxh3: string; xxh128: string }[] = [];
let casesFile = '';
beforeAll(() => {
  tmp = tempDir('xxh3-kernels');
  casesFile = join(tmp.dir, 'cases.json');
  writeFileSync(casesFile, JSON.stringify(CASES));
  CASES.forEach((c, i) => {
    const path = join(tmp.dir, `case-${i}`);
    writeCaseFile(path, c, 2 * i + 1);
    expected.push({ xxh3: toolDigest('xxh3', path), xxh128: toolDigest('xxh128', path) });
  });
}, 120_000);
afterAll(() => tmp.cleanup());

const cpuFlags = readFileSync('/proc/cpuinfo', 'utf8');
const hasFlag = (f: string) => new RegExp(`\\b${f}\\b`).test(cpuFlags);

describe('XXH3 builds and the zero-run fast path match xxhsum', () => {
  const builds: { cap: string | undefined; isa: string }[] = [
    { cap: 'sse2', isa: 'sse2' },
    { cap: 'avx2', isa: hasFlag('avx2') ? 'avx2' : 'sse2' },
    { cap: undefined, isa: hasFlag('avx512f') ? 'avx512' : hasFlag('avx2') ? 'avx2' : 'sse2' },
  ];
  for (const b of builds) {
    it(`${b.cap ?? 'best'} build (${b.isa}): prefix + zero runs + block sums + suffix, 64 and 128 bits`, () => {
      const r = hashInChild(b.cap, casesFile);
      expect(r.isa).toBe(b.isa);
      // The fast path is only used after its self-check against plain hashing passed; on
      // Debian 12's libxxhash it must pass, or zero runs would silently cost full price.
      expect(r.fastPath).toBe(true);
      expect(r.blockSums).toBe(true);
      r.digests.forEach((d, i) => {
        expect(d.xxh3, `case ${i} ${JSON.stringify(CASES[i])}`).toBe(expected[i].xxh3);
        expect(d.xxh128, `case ${i} ${JSON.stringify(CASES[i])}`).toBe(expected[i].xxh128);
      });
    }, 60_000);
  }

  it('rejects a negative or fractional zero-run length', async () => {
    const { createNativeHasher } = await import('../src/native/hash-api.js');
    const h = createNativeHasher(['xxh3']);
    expect(() => h.updateZeros(-1)).toThrow(expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }));
    expect(() => h.updateZeros(1.5)).toThrow(expect.objectContaining({ code: 'E_INVALID_ARGUMENT' }));
  });
});
