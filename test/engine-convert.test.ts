// The conversion engine end to end (through h2k-native): raw output sparseness, output
// life cycle (.partial, force, cancellation, I/O failure), result counters, determinism
// across thread counts, and bounded memory on a huge sparse disk.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GiB,
  KiB,
  MIXED_SIZE,
  MiB,
  convertPeakRssKiB,
  mixedRegions,
  nativeConvert,
  qemuCheck,
  qemuCompare,
  qemuImg,
  qemuMap,
  run,
  seededBytes,
  seededText,
  writeSparseRaw,
} from './helpers/engine-fixtures.js';
import { tempDir } from './helpers/fixtures.js';

const tmp = tempDir('engine');
const dir = tmp.dir;
const mixed = join(dir, 'mixed.raw');
// Big enough that a single-threaded zlib conversion outlives a few progress ticks (~100 ms).
const slow = join(dir, 'slow.raw');

beforeAll(() => {
  writeSparseRaw(mixed, MIXED_SIZE, mixedRegions(MIXED_SIZE));
  writeSparseRaw(slow, 48 * MiB, [{ offset: 0, bytes: seededBytes(48 * MiB, 3) }]);
});
afterAll(() => tmp.cleanup());

function expectNothingLeft(out: string): void {
  expect(existsSync(out)).toBe(false);
  expect(existsSync(`${out}.partial`)).toBe(false);
}

describe('raw output', () => {
  it('is sparse and identical to the source, including an odd size', () => {
    const size = 20 * MiB + 777;
    const src = join(dir, 'odd.raw');
    writeSparseRaw(src, size, [
      { offset: 0, bytes: seededText(100 * KiB, 1) },
      { offset: 4 * MiB, bytes: Buffer.alloc(4 * MiB) }, // allocated zeros must become a hole
      { offset: 12 * MiB + 5, bytes: seededBytes(10 * KiB, 2) },
      { offset: size - 100, bytes: seededBytes(100, 3) },
    ]);
    const out = join(dir, 'odd.out.raw');
    const r = nativeConvert([src, out, 'raw', 'none']);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(out).size).toBe(size);
    expect(readFileSync(out).equals(readFileSync(src))).toBe(true);
    expect(qemuCompare(src, out, 'raw').code).toBe(0);
    // Allocated blocks: ~100 KiB + 10 KiB + a tail block, nowhere near the 4 MiB zero run.
    expect(statSync(out).blocks * 512).toBeLessThan(1 * MiB);
  });

  it('refuses compression', () => {
    const out = join(dir, 'comp.raw');
    const r = nativeConvert([mixed, out, 'raw', 'zlib']);
    expect(r.code).not.toBe(0);
    expect(r.errorCode).toBe('E_INVALID_ARGUMENT');
    expectNothingLeft(out);
  });
});

describe('output life cycle', () => {
  it('refuses an existing output without force and leaves it untouched', () => {
    const out = join(dir, 'exists.qcow2');
    writeFileSync(out, 'precious');
    const r = nativeConvert([mixed, out, 'qcow2', 'none', '--no-force']);
    expect(r.code).not.toBe(0);
    expect(r.errorCode).toBe('E_OUTPUT_EXISTS');
    expect(readFileSync(out, 'utf8')).toBe('precious');
    expect(existsSync(`${out}.partial`)).toBe(false);
    // With force it is replaced by a valid image.
    const f = nativeConvert([mixed, out, 'qcow2', 'none']);
    expect(f.code, f.stderr).toBe(0);
    expect(qemuCompare(mixed, out, 'qcow2').code).toBe(0);
  });

  it('replaces a stale .partial from a crashed run', () => {
    const out = join(dir, 'stale.qcow2');
    writeFileSync(`${out}.partial`, 'left over by a crash');
    const r = nativeConvert([mixed, out, 'qcow2', 'zstd', '--no-force']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(`${out}.partial`)).toBe(false);
    expect(qemuCheck(out).code).toBe(0);
    expect(qemuCompare(mixed, out, 'qcow2').code).toBe(0);
  });

  it('cancellation throws E_CANCELLED and leaves no output and no .partial', () => {
    const out = join(dir, 'cancel.qcow2');
    const r = nativeConvert([slow, out, 'qcow2', 'zlib', '1', '65536', '--cancel-after=1']);
    expect(r.code).not.toBe(0);
    expect(r.errorCode).toBe('E_CANCELLED');
    expectNothingLeft(out);
  });

  it('an I/O error mid-way (file size limit) leaves no output and no .partial', () => {
    for (const fmt of ['qcow2', 'raw']) {
      const out = join(dir, `efbig.${fmt}`);
      // SIGXFSZ ignored, so the write fails with EFBIG instead of killing the process.
      const r = nativeConvert([slow, out, fmt, 'none'], "trap '' XFSZ; ulimit -f 8192");
      expect(r.code).not.toBe(0);
      expect(r.errorCode).toBe('E_IO');
      expectNothingLeft(out);
    }
  });

  it('a missing source fails with E_NOT_FOUND before creating anything', () => {
    const out = join(dir, 'missing.qcow2');
    const r = nativeConvert([join(dir, 'nope.raw'), out]);
    expect(r.errorCode).toBe('E_NOT_FOUND');
    expectNothingLeft(out);
  });

  it('rejects a cluster size that is not a power of two in 512..2M', () => {
    for (const cs of ['256', '65537', '4194304']) {
      const out = join(dir, `cs-${cs}.qcow2`);
      const r = nativeConvert([mixed, out, 'qcow2', 'none', '1', cs]);
      expect(r.errorCode).toBe('E_INVALID_ARGUMENT');
      expectNothingLeft(out);
    }
  });
});

describe('results and determinism', () => {
  it('counters add up: data read, zero bytes, clusters written', () => {
    const out = join(dir, 'count.qcow2');
    const r = nativeConvert([mixed, out, 'qcow2', 'zlib', '2', '65536']);
    expect(r.code, r.stderr).toBe(0);
    const cs = 64 * KiB;
    const padded = Math.ceil(MIXED_SIZE / cs) * cs;
    const written = Number(r.fields.clusters_written);
    // Every guest cluster is either written or counted as zero (the tail clipped to the size).
    expect(Number(r.fields.zero_bytes) + written * cs - (padded - MIXED_SIZE)).toBe(MIXED_SIZE);
    expect(Number(r.fields.clusters_compressed)).toBeGreaterThan(0);
    expect(Number(r.fields.clusters_compressed)).toBeLessThanOrEqual(written);
    // Data bytes read = the source's allocated runs as qemu sees them (explicit zeros included).
    const allocated = qemuMap(mixed, 'raw')
      .filter((m) => m.data)
      .reduce((sum, m) => sum + m.length, 0);
    expect(Number(r.fields.data_bytes)).toBe(allocated);
    expect(Number(r.fields.virtual_size)).toBe(MIXED_SIZE);
    expect(r.fields.source_format).toBe('raw');
    expect(Number(r.fields.output_bytes)).toBe(statSync(out).size);
  });

  it('output bytes do not depend on the number of compression threads', () => {
    const outs = ['1', '3', '8'].map((t) => {
      const out = join(dir, `det-${t}.qcow2`);
      const r = nativeConvert([mixed, out, 'qcow2', 'zstd', t, '65536']);
      expect(r.code, r.stderr).toBe(0);
      return readFileSync(out);
    });
    expect(outs[1]!.equals(outs[0]!)).toBe(true);
    expect(outs[2]!.equals(outs[0]!)).toBe(true);
  });
});

describe('content hashes in the same pass', () => {
  it('equal md5sum / xxh128sum / sha256sum of the guest content (raw and VMDK sources)', () => {
    const expected = {
      md5: run('md5sum', [mixed]).out.split(' ')[0],
      xxh128: run('xxh128sum', [mixed]).out.split(' ')[0],
      sha256: run('sha256sum', [mixed]).out.split(' ')[0],
    };
    const vmdk = join(dir, 'hash-src.vmdk');
    qemuImg(['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', mixed, vmdk]);
    for (const [src, comp] of [[mixed, 'zlib'], [vmdk, 'none']] as const) {
      const out = join(dir, 'hashed.qcow2');
      const r = nativeConvert([src, out, 'qcow2', comp, '2', '65536', '--hash=md5,xxh128,sha256']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.fields.content_hash_md5).toBe(expected.md5);
      expect(r.fields.content_hash_xxh128).toBe(expected.xxh128);
      expect(r.fields.content_hash_sha256).toBe(expected.sha256);
    }
  });

  it('an unknown algorithm is refused before any output exists', () => {
    const out = join(dir, 'badhash.qcow2');
    const r = nativeConvert([mixed, out, 'qcow2', 'none', '--hash=crc7']);
    expect(r.errorCode).toBe('E_INVALID_ARGUMENT');
    expectNothingLeft(out);
  });
});

describe('VMDK sources', () => {
  it.each([
    ['monolithicSparse', 'none'],
    ['streamOptimized', 'zstd'],
  ])('%s -> qcow2 %s is identical to the raw it came from', (subformat, comp) => {
    const vmdk = join(dir, `mixed-${subformat}.vmdk`);
    qemuImg(['convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${subformat}`, mixed, vmdk]);
    const out = join(dir, `from-${subformat}.qcow2`);
    const r = nativeConvert([vmdk, out, 'qcow2', comp, '2', '65536']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.fields.source_format).toBe('vmdk');
    expect(r.fields.source_subformat).toBe(subformat);
    expect(qemuCheck(out).code).toBe(0);
    expect(qemuCompare(mixed, out, 'qcow2').code).toBe(0);
  });
});

describe('bounded memory', () => {
  it('a 4 TiB sparse disk converts with a small, size-independent footprint', () => {
    const size = 4 * 1024 * GiB;
    const src = join(dir, 'huge.raw');
    writeSparseRaw(src, size, [
      { offset: 0, bytes: seededText(1 * MiB, 1) },
      { offset: 1024 * GiB, bytes: seededBytes(1 * MiB, 2) },
      { offset: size - MiB, bytes: seededText(1 * MiB, 3) },
    ]);
    const out = join(dir, 'huge.qcow2');
    const r = convertPeakRssKiB([src, out, 'qcow2', 'zstd', '2', '65536']);
    expect(r.code, r.out).toBe(0);
    expect(r.rssKiB).toBeLessThan(64 * 1024);
    expect(qemuCheck(out).code).toBe(0);
    expect(qemuCompare(src, out, 'qcow2').code).toBe(0);
  });
});
