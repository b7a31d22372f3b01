// `h2k convert -t none|writeback` (qemu-img's -t): qcow2 output through O_DIRECT (the default) or
// the page cache. Oracles: cmp (the two modes write the same bytes), qemu-img compare/check, and
// fincore (util-linux) for what the page cache holds of the output afterwards.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runH2k } from './helpers/cli.js';
import { compareImages, expectCleanCheck, makeSeededRaw, tempDir } from './helpers/fixtures.js';

const fx = tempDir('cache-mode');
let raw: string;
let small: string;

beforeAll(() => {
  // 40 MiB: five O_DIRECT windows of 8 MiB, holes, explicit zeros, data in the last sector
  raw = makeSeededRaw(join(fx.dir, 'disk.raw'), 40, 7);
  small = makeSeededRaw(join(fx.dir, 'small.raw'), 3, 11);
}, 60_000);
afterAll(() => fx.cleanup());

/** bytes of `file` resident in the page cache */
function cachedBytes(file: string): number {
  return Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' }).trim());
}

async function convert(src: string, out: string, extra: string[]) {
  const r = await runH2k(['convert', src, '-o', out, '-O', 'qcow2', '--force', '--no-progress', ...extra], { timeout: 60_000 });
  expect(r.code, r.stderr).toBe(0);
  return out;
}

describe('h2k convert -t (output cache mode)', () => {
  test.each([
    ['no compression', []],
    ['zlib', ['-c', 'zlib']],
    ['zstd, 512-byte clusters (compressed data at unaligned offsets everywhere)', ['-c', 'zstd', '--cluster-size', '512']],
  ])('%s: -t none and -t writeback write the same bytes, qemu-img reads the source back', async (_name, extra) => {
    const direct = await convert(raw, join(fx.dir, 'direct.qcow2'), [...extra]);
    const buffered = await convert(raw, join(fx.dir, 'buffered.qcow2'), [...extra, '-t', 'writeback']);
    expect(statSync(direct).size).toBe(statSync(buffered).size);
    expect(readFileSync(direct).equals(readFileSync(buffered))).toBe(true);
    expect(compareImages(raw, direct, 'raw', 'qcow2').code).toBe(0);
    expectCleanCheck(direct);
  }, 120_000);

  test('-t none (the default) leaves the output out of the page cache: written through O_DIRECT', async () => {
    const out = await convert(raw, join(fx.dir, 'default.qcow2'), []);
    // the header (written last, through the page cache) and nothing much else
    expect(cachedBytes(out)).toBeLessThanOrEqual(64 * 1024);
    expect(statSync(out).size).toBeGreaterThan(12 * 1024 * 1024); // more than one window: most of it went around the cache
  }, 60_000);

  test.each([['vdi'], ['vmdk']])('-O %s (random UUID/CID: no byte compare): -t none output reads back as the source, out of the page cache', async (fmt) => {
    const out = join(fx.dir, `direct.${fmt}`);
    const r = await runH2k(['convert', raw, '-o', out, '-O', fmt, '--force', '--no-progress'], { timeout: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    // before the oracles read it in: only what is written at the front at the end (header; VDI's block map)
    expect(cachedBytes(out)).toBeLessThanOrEqual(Math.max(2 * 1024 * 1024, statSync(out).size / 10));
    expect(compareImages(raw, out, 'raw', fmt).code).toBe(0);
    expectCleanCheck(out, fmt);
  }, 60_000);

  test('a small image (less than one window, the file ends mid-block): same bytes, exact size', async () => {
    // 512-byte clusters: the file ends on a 512-byte boundary, mostly not on the 4 KiB the direct writes are padded to
    const direct = await convert(small, join(fx.dir, 'small-direct.qcow2'), ['-c', 'zstd', '--cluster-size', '512']);
    const buffered = await convert(small, join(fx.dir, 'small-buffered.qcow2'), ['-c', 'zstd', '--cluster-size', '512', '-t', 'writeback']);
    expect(statSync(direct).size).toBe(statSync(buffered).size);
    expect(readFileSync(direct).equals(readFileSync(buffered))).toBe(true);
    expect(compareImages(small, direct, 'raw', 'qcow2').code).toBe(0);
  }, 60_000);

  test('a file system that refuses O_DIRECT (tmpfs): the same bytes through the page cache', async () => {
    expect(existsSync('/dev/shm')).toBe(true);
    const shm = mkdtempSync('/dev/shm/h2k-cache-');
    try {
      const onTmpfs = await convert(raw, join(shm, 'out.qcow2'), ['-c', 'zstd']);
      const reference = await convert(raw, join(fx.dir, 'ref.qcow2'), ['-c', 'zstd', '-t', 'writeback']);
      expect(readFileSync(onTmpfs).equals(readFileSync(reference))).toBe(true);
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  }, 60_000);

  test('a full output file system (loop-mounted 8 MiB ext4, the output needs about 20): E_NO_SPACE, exit 1, no .partial left, in both modes', async () => {
    // ext4 takes O_DIRECT, so the error comes back from the background window write in -t none
    const img = join(fx.dir, 'small-fs.img');
    const mnt = join(fx.dir, 'small-fs');
    execFileSync('truncate', ['-s', '8M', img]);
    execFileSync('mkfs.ext4', ['-q', '-F', img]);
    execFileSync('mkdir', ['-p', mnt]);
    execFileSync('mount', ['-o', 'loop', img, mnt]);
    try {
      for (const mode of ['none', 'writeback']) {
        const out = join(mnt, `out-${mode}.qcow2`);
        const r = await runH2k(['convert', raw, '-o', out, '-O', 'qcow2', '-t', mode, '--no-progress'], { timeout: 60_000 });
        expect(r.code, r.stderr).toBe(1);
        expect(r.stderr).toContain('E_NO_SPACE');
        expect(r.stderr).toContain('free disk space');
        expect(existsSync(out)).toBe(false);
        expect(existsSync(`${out}.partial`)).toBe(false);
      }
    } finally {
      execFileSync('umount', [mnt]);
    }
  }, 120_000);

  test('an unknown mode (qemu-img has unsafe, directsync...): exit 2, E_INVALID_ARGUMENT, nothing written', async () => {
    const out = join(fx.dir, 'never.qcow2');
    const r = await runH2k(['convert', raw, '-o', out, '-t', 'unsafe', '--no-progress']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('E_INVALID_ARGUMENT');
    expect(r.stderr).toMatch(/-t none or -t writeback/);
    expect(existsSync(out)).toBe(false);
  });
});
