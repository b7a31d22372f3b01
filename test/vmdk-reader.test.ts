// The native VMDK reader against qemu-img as the oracle: every subformat qemu writes, a
// GD_AT_END stream from our own generator, hand-written vmfs/custom descriptors, a > 4 GiB
// split disk, and a corpus of damaged inputs that must fail fast with a stable code.
import { copyFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNativeTool, type ToolResult } from './helpers/native-tool.js';
import {
  MiB,
  STANDARD_SIZE,
  SPARSE_HEADER,
  makeStandardRaw,
  mergeDataRuns,
  nativeDataRuns,
  patchFile,
  qemuCompare,
  qemuDataRuns,
  qemuIo,
  qemuVirtualSize,
  rawToVmdk,
  readAt,
  readSparseHeader,
  seededBytes,
  u32,
  u64,
  writeSparseRaw,
} from './helpers/vmdk-fixtures.js';
import { writeStreamVmdk } from './helpers/vmdk-stream-generator.js';

let dir: string;
let src: string;
let counter = 0;
const fresh = (name: string): string => join(dir, `${counter++}-${name}`);

function tool(args: string[]): ToolResult {
  return runNativeTool(args, { timeoutMs: 60_000 });
}

/** cat through our reader, then qemu-img compares the result with the raw it came from. */
function expectReadsAs(image: string, expectedRaw: string): void {
  const out = fresh('out.raw');
  const r = tool(['cat', image, out]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const cmp = qemuCompare(expectedRaw, 'raw', out, 'raw');
  expect(cmp.output).toContain('identical');
  expect(cmp.code).toBe(0);
  rmSync(out);
}

function nativeInfo(image: string): Record<string, string> {
  const r = tool(['info', image]);
  expect(r.code, r.stderr).toBe(0);
  const fields: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const i = line.indexOf(': ');
    if (i > 0) fields[line.slice(0, i)] = line.slice(i + 2);
  }
  return fields;
}

function expectInfoMatchesQemu(image: string, subformat: string): Record<string, string> {
  const info = nativeInfo(image);
  expect(info.format).toBe('vmdk');
  expect(info.subformat).toBe(subformat);
  expect(Number(info.virtual_size)).toBe(qemuVirtualSize(image));
  return info;
}

function expectMapMatchesQemu(image: string): void {
  const r = tool(['map', image]);
  expect(r.code, r.stderr).toBe(0);
  expect(nativeDataRuns(r.stdout)).toEqual(qemuDataRuns(image));
}

/**
 * qemu 7.2 maps every flat-extent byte as data; we report the holes of the flat files. The
 * comparable oracle is qemu's map of those files as raw images, laid end to end.
 */
function expectMapMatchesFlatFiles(image: string, flatFiles: string[]): void {
  const r = tool(['map', image]);
  expect(r.code, r.stderr).toBe(0);
  let base = 0;
  const expected = flatFiles.flatMap((f) => {
    const runs = qemuDataRuns(f, 'raw').map((run) => ({ ...run, start: run.start + base }));
    base += statSync(f).size;
    return runs;
  });
  expect(nativeDataRuns(r.stdout)).toEqual(mergeDataRuns(expected));
}

function expectMapMatches(image: string, subformat: string): void {
  const stem = image.replace(/\.vmdk$/, '');
  if (subformat === 'monolithicFlat') expectMapMatchesFlatFiles(image, [`${stem}-flat.vmdk`]);
  else if (subformat === 'twoGbMaxExtentFlat') {
    const files = readFileSync(image, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('RW '))
      .map((l) => join(dir, /"(.*)"/.exec(l)![1]));
    expectMapMatchesFlatFiles(image, files);
  } else expectMapMatchesQemu(image);
}

/** Runs a bad input: non-zero exit, the expected E_ code, fast, in bounded memory. */
function expectFailure(args: string[], code: string): ToolResult {
  const started = Date.now();
  const r = runNativeTool(args, { timeoutMs: 20_000, memoryLimitKiB: 512 * 1024 });
  expect(r.signal, r.stderr).toBeNull();
  expect(r.code, r.stdout + r.stderr).toBe(1);
  expect(r.errorCode, r.stderr).toBe(code);
  expect(Date.now() - started).toBeLessThan(10_000);
  return r;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'h2k-vmdk-'));
  src = makeStandardRaw(join(dir, 'src.raw'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('subformats written by qemu-img', () => {
  for (const subformat of ['monolithicSparse', 'streamOptimized', 'monolithicFlat', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat']) {
    it(`${subformat}: content, map and virtual size agree with qemu`, () => {
      const image = rawToVmdk(src, fresh(`${subformat}.vmdk`), [`subformat=${subformat}`]);
      expectReadsAs(image, src);
      expectMapMatches(image, subformat);
      const info = expectInfoMatchesQemu(image, subformat);
      expect(info.compression).toBe(subformat === 'streamOptimized' ? 'deflate' : 'none');
      expect(info.parentCid).toBe('ffffffff');
      expect(info.adapterType).toBe('ide');
      expect(info.hwVersion).toBe('4');
      // qemu prints the CID with %x: a random CID with leading zero bits has fewer than 8 digits.
      expect(info.cid).toMatch(/^[0-9a-f]{1,8}$/);
      if (!subformat.includes('Flat')) {
        // allocated bytes = the data qemu maps; grain geometry from the sparse header.
        const qemuData = qemuDataRuns(image).filter((r) => r.data).reduce((n, r) => n + r.length, 0);
        expect(Number(info.allocated_bytes)).toBe(qemuData);
        expect(info.grainSize).toBe('128');
        expect(info.sparseVersion).toBe(subformat === 'streamOptimized' ? '3' : '1');
        expect(info.uncleanShutdown).toBe('false');
      }
    });
  }

  it('zeroed-grain GTEs (zeroed_grain=on + qemu-io write -z) read as zero and map as zero', () => {
    const image = rawToVmdk(src, fresh('zg.vmdk'), ['subformat=monolithicSparse', 'zeroed_grain=on']);
    qemuIo(image, ['write -z 0 64k', 'write -z 10M 128k']);
    const expected = fresh('zg-expected.raw');
    copyFileSync(src, expected);
    patchFile(expected, 0, Buffer.alloc(64 * 1024));
    patchFile(expected, 10 * MiB, Buffer.alloc(128 * 1024));
    expectReadsAs(image, expected);
    expectMapMatchesQemu(image);
    const map = tool(['map', image]).stdout;
    expect(map).toMatch(/^0 65536 zero$/m);
    expect(map).toMatch(/^10485760 131072 zero$/m);
    const info = expectInfoMatchesQemu(image, 'monolithicSparse');
    expect(info.sparseVersion).toBe('2');
    expect(info.zeroedGrains).toBe('true');
  });

  it('an all-zero disk has no data runs; a fully allocated one is one data run', () => {
    const zeroRaw = writeSparseRaw(fresh('zero.raw'), 3 * MiB + 512, []);
    const zero = rawToVmdk(zeroRaw, fresh('zero.vmdk'), ['subformat=monolithicSparse']);
    expectReadsAs(zero, zeroRaw);
    expect(nativeDataRuns(tool(['map', zero]).stdout).filter((r) => r.data)).toEqual([]);
    expect(nativeInfo(zero).allocated_bytes).toBe('0');

    const fullSize = 5 * MiB + 1536;
    const fullRaw = writeSparseRaw(fresh('full.raw'), fullSize, [{ offset: 0, bytes: seededBytes(fullSize, 99) }]);
    for (const subformat of ['monolithicSparse', 'streamOptimized']) {
      const full = rawToVmdk(fullRaw, fresh(`full-${subformat}.vmdk`), [`subformat=${subformat}`]);
      expectReadsAs(full, fullRaw);
      expect(tool(['map', full]).stdout.trim()).toBe(`0 ${fullSize} data`);
      expectMapMatchesQemu(full);
    }
  });

  it('> 4 GiB virtual disk split into twoGbMaxExtentSparse and twoGbMaxExtentFlat files', () => {
    const size = 4.5 * 1024 * MiB + 3 * 512;
    const bigRaw = writeSparseRaw(fresh('big.raw'), size, [
      { offset: 0, bytes: seededBytes(64 * 1024, 1) },
      { offset: 2048 * MiB - 1000, bytes: seededBytes(3000, 2) }, // crosses the first split
      { offset: 4096 * MiB - 4096, bytes: seededBytes(70 * 1024, 3) }, // crosses 4 GiB
      { offset: size - 700, bytes: seededBytes(700, 4) },
    ]);
    for (const subformat of ['twoGbMaxExtentSparse', 'twoGbMaxExtentFlat']) {
      const image = rawToVmdk(bigRaw, fresh(`big-${subformat}.vmdk`), [`subformat=${subformat}`]);
      const info = expectInfoMatchesQemu(image, subformat);
      expect(Number(info.virtual_size)).toBe(size);
      expect(Number(info.extentCount)).toBe(3);
      expectReadsAs(image, bigRaw);
      expectMapMatches(image, subformat);
    }
  });
});

describe('streamOptimized with the grain directory at the end (own generator)', () => {
  it('reads a GD_AT_END stream that qemu also accepts', () => {
    const image = fresh('stream.vmdk');
    expect(writeStreamVmdk(src, image, STANDARD_SIZE, { crlf: true })).toBeGreaterThan(10);
    // The generator's output is valid: qemu reads it as the source.
    expect(qemuCompare(image, 'vmdk', src, 'raw').code).toBe(0);
    expectReadsAs(image, src);
    expectMapMatchesQemu(image);
    const info = expectInfoMatchesQemu(image, 'streamOptimized');
    expect(info.gdAtEnd).toBe('true');
    expect(info.sparseVersion).toBe('3');
    expect(info.adapterType).toBe('lsilogic');
    expect(info.hwVersion).toBe('14');
    expect(info.toolsVersion).toBe('12345');
    expect(info.extent).toMatch(/^RDONLY SPARSE /);
  });

  it('follows the grain table when grains are stored out of guest order', () => {
    const image = fresh('stream-rev.vmdk');
    writeStreamVmdk(src, image, STANDARD_SIZE, { reverseGrainOrder: true });
    expect(qemuCompare(image, 'vmdk', src, 'raw').code).toBe(0);
    expectReadsAs(image, src);
  });

  it('rejects a grain whose marker LBA disagrees with its grain table entry', () => {
    const image = fresh('stream-lba.vmdk');
    writeStreamVmdk(src, image, STANDARD_SIZE, { wrongLbaInFirstGrain: true });
    expectFailure(['cat', image, fresh('o.raw')], 'E_VMDK_BAD_GRAIN');
  });

  it('rejects a GD_AT_END stream whose end-of-stream marker is missing', () => {
    const image = fresh('stream-trunc.vmdk');
    writeStreamVmdk(src, image, STANDARD_SIZE);
    truncateSync(image, statSync(image).size - 512);
    expectFailure(['info', image], 'E_VMDK_BAD_FOOTER');
  });
});

describe('hand-written descriptors', () => {
  it('vmfs: an ESXi descriptor with a VMFS extent pointing at a -flat file', () => {
    const sub = mkdtempSync(join(dir, 'vmfs-'));
    copyFileSync(src, join(sub, 'esx-flat.vmdk'));
    const desc = join(sub, 'esx.vmdk');
    writeFileSync(
      desc,
      [
        '# Disk DescriptorFile',
        'version=1',
        'encoding="UTF-8"',
        'CID=fffffffe',
        'parentCID=ffffffff',
        'isNativeSnapshot="no"',
        'createType="vmfs"',
        '',
        '# Extent description',
        `RW ${STANDARD_SIZE / 512} VMFS "esx-flat.vmdk"`,
        '',
        '# The Disk Data Base',
        '#DDB',
        '',
        'ddb.adapterType = "lsilogic"',
        'ddb.geometry.cylinders = "6"',
        'ddb.geometry.heads = "255"',
        'ddb.geometry.sectors = "63"',
        'ddb.thinProvisioned = "1"',
        'ddb.uuid = "60 00 C2 9b 5a 1e 0f 4e-c4 b1 7a 0e 3f 22 11 00"',
        'ddb.virtualHWVersion = "13"',
        '',
      ].join('\r\n'),
    );
    expect(qemuCompare(desc, 'vmdk', src, 'raw').code).toBe(0);
    expectReadsAs(desc, src);
    const info = expectInfoMatchesQemu(desc, 'vmfs');
    expect(info.geometry).toBe('6/255/63');
    expect(info.thinProvisioned).toBe('1');
    expect(info.hwVersion).toBe('13');
    expect(info.uuid).toBe('60 00 C2 9b 5a 1e 0f 4e-c4 b1 7a 0e 3f 22 11 00');
    expect(info.extent).toBe(`RW VMFS ${STANDARD_SIZE} ${join(sub, 'esx-flat.vmdk')} +0`);
    expect(Number(info.file_bytes)).toBe(statSync(desc).size + STANDARD_SIZE);
  });

  it('custom: FLAT slices, a ZERO extent and a SPARSE extent with bare values and RDONLY', () => {
    const sub = mkdtempSync(join(dir, 'custom-'));
    const part = writeSparseRaw(join(sub, 'part.raw'), 2 * MiB, [{ offset: 0, bytes: seededBytes(2 * MiB, 5) }]);
    const sparseSrc = writeSparseRaw(join(sub, 'sparse-src.raw'), 3 * MiB + 512, [
      { offset: 4096, bytes: seededBytes(100_000, 11) },
      { offset: 3 * MiB, bytes: seededBytes(512, 12) },
    ]);
    rawToVmdk(sparseSrc, join(sub, 'piece.vmdk'), ['subformat=monolithicSparse']);
    const desc = join(sub, 'custom.vmdk');
    writeFileSync(
      desc,
      [
        'version=1',
        'CID=0badc0de',
        'parentCID=ffffffff',
        'createType=custom',
        'RW 2048 FLAT "part.raw" 0',
        'RW 4096 ZERO',
        `RDONLY ${(3 * MiB + 512) / 512} SPARSE "piece.vmdk"`,
        'RW 1024 FLAT "part.raw" 2048',
        'ddb.adapterType=buslogic',
      ].join('\n'),
    );
    const partBytes = readFileSync(part);
    const expected = writeSparseRaw(join(sub, 'expected.raw'), MiB + 2 * MiB + 3 * MiB + 512 + 512 * 1024, [
      { offset: 0, bytes: partBytes.subarray(0, MiB) },
      { offset: 3 * MiB, bytes: readFileSync(sparseSrc) },
      { offset: 6 * MiB + 512, bytes: partBytes.subarray(MiB, MiB + 512 * 1024) },
    ]);
    expectReadsAs(desc, expected);
    const info = nativeInfo(desc);
    expect(info.subformat).toBe('custom');
    expect(Number(info.virtual_size)).toBe(statSync(expected).size);
    expect(info.adapterType).toBe('buslogic');
    expect(info.extentCount).toBe('4');
    const map = tool(['map', desc]).stdout;
    expect(map).toMatch(/^1048576 2097152 zero$/m);
  });

  it('falls back to the redundant grain directory when the primary is unusable, with a warning', () => {
    const image = rawToVmdk(src, fresh('rgd.vmdk'), ['subformat=monolithicSparse']);
    const h = readSparseHeader(image);
    patchFile(image, Number(h.gdOffset) * 512, u32(0x7fffffff));
    expectReadsAs(image, src);
    expect(tool(['info', image]).stdout).toMatch(/warning: primary grain directory .* redundant copy/);
  });
});

describe('damaged and unsupported inputs fail cleanly with a stable code', () => {
  let sparse: string;
  let stream: string;
  let flatDesc: string;
  beforeAll(() => {
    sparse = rawToVmdk(src, fresh('bad-base.vmdk'), ['subformat=monolithicSparse']);
    stream = rawToVmdk(src, fresh('bad-stream.vmdk'), ['subformat=streamOptimized']);
    flatDesc = rawToVmdk(src, fresh('bad-flat.vmdk'), ['subformat=monolithicFlat']);
  });
  const copy = (from: string, name: string): string => {
    const to = fresh(name);
    copyFileSync(from, to);
    return to;
  };
  const descriptorWith = (extentLine: string, extra: string[] = []): string => {
    const sub = mkdtempSync(join(dir, 'desc-'));
    const p = join(sub, 'd.vmdk');
    writeFileSync(p, ['version=1', 'CID=12345678', 'parentCID=ffffffff', 'createType="monolithicFlat"', ...extra, extentLine, ''].join('\n'));
    return p;
  };

  it('zero-length file', () => {
    const empty = fresh('empty.vmdk');
    writeFileSync(empty, '');
    expectFailure(['info', empty], 'E_UNKNOWN_FORMAT');
    const d = descriptorWith('RW 2048 SPARSE "empty.vmdk"');
    writeFileSync(join(d, '..', 'empty.vmdk'), '');
    expectFailure(['info', d], 'E_TRUNCATED');
  });

  it('random bytes as a sparse extent, or behind a KDMV magic', () => {
    const d = descriptorWith('RW 2048 SPARSE "noise.vmdk"');
    writeFileSync(join(d, '..', 'noise.vmdk'), seededBytes(MiB, 3));
    expectFailure(['info', d], 'E_VMDK_BAD_MAGIC');
    const kdmv = fresh('kdmv-noise.vmdk');
    writeFileSync(kdmv, Buffer.concat([Buffer.from('KDMV'), seededBytes(MiB, 4)]));
    const r = runNativeTool(['info', kdmv], { timeoutMs: 20_000, memoryLimitKiB: 512 * 1024 });
    expect(r.code).toBe(1);
    expect(r.errorCode).toMatch(/^E_(UNSUPPORTED|VMDK_[A-Z_]+|TRUNCATED)$/);
  });

  it('descriptor text that is not valid', () => {
    const d = descriptorWith('RW lots FLAT "x-flat.vmdk" 0');
    expectFailure(['info', d], 'E_VMDK_BAD_DESCRIPTOR');
  });

  it('truncated sparse extent', () => {
    const t = copy(sparse, 'trunc.vmdk');
    truncateSync(t, 40_000);
    expectFailure(['info', t], 'E_TRUNCATED');
  });

  it('grain directory entries pointing past EOF (primary and redundant)', () => {
    const t = copy(sparse, 'gd-eof.vmdk');
    const h = readSparseHeader(t);
    patchFile(t, Number(h.gdOffset) * 512, u32(0x7fffffff));
    patchFile(t, Number(h.rgdOffset) * 512, u32(0x7fffffff));
    expectFailure(['info', t], 'E_VMDK_BAD_GD');
  });

  it('grain table entry pointing past EOF', () => {
    const t = copy(sparse, 'gte-eof.vmdk');
    const h = readSparseHeader(t);
    const gtSector = readAt(t, Number(h.gdOffset) * 512, 4).readUInt32LE(0);
    patchFile(t, gtSector * 512, u32(0x7fffff00));
    expectFailure(['cat', t, fresh('o.raw')], 'E_VMDK_BAD_GTE');
  });

  it('grain size 0 and not a power of two', () => {
    for (const g of [0n, 3n, 1n << 40n]) {
      const t = copy(sparse, `grain-${g}.vmdk`);
      patchFile(t, SPARSE_HEADER.grainSize, u64(g));
      expectFailure(['info', t], 'E_VMDK_BAD_GRAIN_SIZE');
    }
  });

  it('capacity of 2^62 sectors', () => {
    const t = copy(sparse, 'cap.vmdk');
    patchFile(t, SPARSE_HEADER.capacity, u64(1n << 62n));
    expectFailure(['info', t], 'E_VMDK_BAD_CAPACITY');
    patchFile(t, SPARSE_HEADER.capacity, u64(0n));
    expectFailure(['info', t], 'E_VMDK_BAD_CAPACITY');
  });

  it('descriptor naming a missing extent file', () => {
    const sub = mkdtempSync(join(dir, 'missing-'));
    const d = join(sub, 'only-descriptor.vmdk');
    copyFileSync(flatDesc, d);
    expectFailure(['info', d], 'E_VMDK_MISSING_EXTENT');
  });

  it('extent paths escaping the image directory (absolute and ..)', () => {
    expectFailure(['info', descriptorWith(`RW 2048 FLAT "${src}" 0`)], 'E_PATH_ESCAPE');
    expectFailure(['info', descriptorWith('RW 2048 FLAT "../src.raw" 0')], 'E_PATH_ESCAPE');
    expectFailure(['info', descriptorWith('RW 2048 SPARSE "sub/../../x.vmdk"')], 'E_PATH_ESCAPE');
  });

  it('corrupt deflate stream in a streamOptimized grain', () => {
    const t = copy(stream, 'bad-deflate.vmdk');
    const h = readSparseHeader(t);
    const gtSector = readAt(t, Number(h.gdOffset) * 512, 4).readUInt32LE(0);
    const grainSector = readAt(t, gtSector * 512, 4).readUInt32LE(0);
    expect(grainSector).toBeGreaterThan(0);
    patchFile(t, grainSector * 512 + 12 + 20, Buffer.alloc(300, 0x5a));
    expectFailure(['cat', t, fresh('o.raw')], 'E_DECOMPRESS');
  });

  it('delta disks without a usable parent fail; a missing SESparse file and an unknown COWD version fail cleanly', () => {
    // Chains themselves are read (test/formats-chains.test.ts); a delta whose parent is absent
    // or unnamed fails with E_VMDK_BAD_PARENT.
    const delta = descriptorWith('RW 2048 ZERO', ['parentFileNameHint="base.vmdk"']);
    writeFileSync(delta, readFileSync(delta, 'utf8').replace('parentCID=ffffffff', 'parentCID=0badf00d'));
    expect(expectFailure(['info', delta], 'E_VMDK_BAD_PARENT').stderr).toContain('not found');
    const cid = descriptorWith('RW 2048 ZERO');
    writeFileSync(cid, readFileSync(cid, 'utf8').replace('parentCID=ffffffff', 'parentCID=0badf00d'));
    expectFailure(['info', cid], 'E_VMDK_BAD_PARENT');
    // ESX deltas themselves are read (test/vmdk-esx-deltas.test.ts).
    expectFailure(['info', descriptorWith('RW 2048 SESPARSE "x-sesparse.vmdk"')], 'E_VMDK_MISSING_EXTENT');
    const cowd = descriptorWith('RW 2048 SPARSE "cowd.vmdk"');
    writeFileSync(join(cowd, '..', 'cowd.vmdk'), Buffer.concat([Buffer.from('COWD'), Buffer.alloc(4092)]));
    expect(expectFailure(['info', cowd], 'E_UNSUPPORTED').stderr).toContain('COWD version 0');
  });
});
