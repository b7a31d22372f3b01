// The VHD, VHDX, VDI and qcow2 readers against qemu-img as the oracle: every variant qemu
// writes (plus a generated differencing VHD), read through `h2k-native cat` and compared
// with `qemu-img compare`; damaged headers of each format must fail fast with a stable
// E_ code, and parent chains obey the path guard, the depth cap and loop detection.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNativeTool } from './helpers/native-tool.js';
import { MiB, patchFile, qemuCompare, qemuImg, seededBytes, u32, writeSparseRaw } from './helpers/vmdk-fixtures.js';
import { addPendingVhdxLogEntry, markVhdxLogDirty, writeDiffVhd, writeDiffVhdx } from './helpers/formats-fixtures.js';

let dir: string;
let src: string;
let n = 0;
const fresh = (name: string): string => join(dir, `${n++}-${name}`);
// 24 MiB + 3 sectors: not a multiple of any cluster/block size, so every tail path runs.
const SIZE = 24 * MiB + 3 * 512;

function info(image: string): Record<string, string> {
  const r = runNativeTool(['info', image]);
  expect(r.code, r.stderr).toBe(0);
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const i = line.indexOf(': ');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 2);
  }
  return out;
}

/** Our reader's guest bytes must equal what qemu reads from the same image. */
function expectSameAsQemu(image: string, qemuFormat: string): void {
  const out = fresh('out.raw');
  const r = runNativeTool(['cat', image, out]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const cmp = qemuCompare(image, qemuFormat, out, 'raw');
  expect(cmp.output).toContain('identical');
  expect(cmp.code).toBe(0);
  rmSync(out);
}

function qemuIo(image: string, commands: string[]): void {
  execFileSync('qemu-io', ['-f', 'qcow2', ...commands.flatMap((c) => ['-c', c]), image], { stdio: 'ignore' });
}

function expectError(image: string, code: string): void {
  const r = runNativeTool(['cat', image, fresh('bad.raw')], { timeoutMs: 20_000, memoryLimitKiB: 1024 * 1024 });
  expect(r.signal).toBeNull();
  expect(r.code).not.toBe(0);
  expect(r.errorCode, r.stderr).toBe(code);
}

function convert(format: string, options: string[], name: string): string {
  const out = fresh(name);
  qemuImg(['convert', '-q', '-f', 'raw', '-O', format, ...(options.length ? ['-o', options.join(',')] : []), src, out]);
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'h2k-formats-'));
  const text = Buffer.from('h2k formats test: VHD VHDX VDI qcow2 readers. '.repeat(30000)).subarray(0, MiB);
  src = writeSparseRaw(join(dir, 'src.raw'), SIZE, [
    { offset: 0, bytes: text },
    { offset: 5 * MiB + 4096, bytes: seededBytes(300 * 1024, 3) },
    { offset: 9 * MiB, bytes: Buffer.alloc(MiB) },
    { offset: 17 * MiB + 512, bytes: seededBytes(512, 4) },
    { offset: SIZE - 1536, bytes: seededBytes(1536, 5) },
  ]);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readers match qemu-img byte for byte', () => {
  const cases: Array<[string, string, string[], string, string]> = [
    ['VHD fixed', 'vpc', ['subformat=fixed'], 'vhd', 'fixed'],
    ['VHD dynamic (CHS-sized, creator qemu)', 'vpc', ['subformat=dynamic'], 'vhd', 'dynamic'],
    ['VHD dynamic force_size (creator qem2)', 'vpc', ['subformat=dynamic', 'force_size=on'], 'vhd', 'dynamic'],
    ['VHDX dynamic', 'vhdx', [], 'vhdx', 'dynamic'],
    ['VHDX fixed', 'vhdx', ['subformat=fixed'], 'vhdx', 'fixed'],
    ['VHDX 1 MiB blocks', 'vhdx', ['block_size=1048576'], 'vhdx', 'dynamic'],
    ['VHDX without zero block state', 'vhdx', ['block_state_zero=off'], 'vhdx', 'dynamic'],
    ['VDI dynamic', 'vdi', [], 'vdi', 'dynamic'],
    ['VDI static', 'vdi', ['static=on'], 'vdi', 'fixed'],
    ['qcow2 v2', 'qcow2', ['compat=0.10'], 'qcow2', 'v2'],
    ['qcow2 v3 4 KiB clusters', 'qcow2', ['cluster_size=4096'], 'qcow2', 'v3'],
    ['qcow2 v3 2 MiB clusters', 'qcow2', ['cluster_size=2097152'], 'qcow2', 'v3'],
  ];
  for (const [title, qfmt, opts, ourFormat, sub] of cases) {
    it(title, () => {
      const img = convert(qfmt, opts, `img.${qfmt}`);
      expectSameAsQemu(img, qfmt);
      const i = info(img);
      expect(i.format).toBe(ourFormat);
      expect(i.subformat).toBe(sub);
      const qemuSize = JSON.parse(qemuImg(['info', '--output=json', '-f', qfmt, img]))['virtual-size'];
      expect(Number(i.virtual_size)).toBe(qemuSize);
    });
  }

  for (const ctype of ['zlib', 'zstd']) {
    it(`qcow2 compressed with ${ctype}`, () => {
      const img = fresh(`c-${ctype}.qcow2`);
      qemuImg(['convert', '-q', '-c', '-f', 'raw', '-O', 'qcow2', '-o', `compression_type=${ctype}`, src, img]);
      expectSameAsQemu(img, 'qcow2');
      expect(info(img).compression).toBe(ctype);
    });
  }

  it('qcow2 with a backing chain (qcow2 over compressed qcow2 over raw), zero clusters and a shorter backing file', () => {
    const base = fresh('base.qcow2');
    qemuImg(['convert', '-q', '-c', '-f', 'raw', '-O', 'qcow2', src, base]);
    const mid = join(dir, 'mid.qcow2');
    qemuImg(['create', '-q', '-f', 'qcow2', '-b', base.split('/').pop()!, '-F', 'qcow2', mid]);
    qemuIo(mid, ['write -P 0x55 1M 64k', 'write -z 5M 128k', 'write -P 0x66 20M 4k']);
    const top = fresh('top.qcow2');
    qemuImg(['create', '-q', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', top, String(SIZE + 4 * MiB)]);
    qemuIo(top, ['write -P 0x77 2M 8k', `write -P 0x78 ${SIZE + MiB} 4k`]);
    expectSameAsQemu(top, 'qcow2');
    const i = info(top);
    expect(i.backingFile).toBe('mid.qcow2');
    expect(Number(i.virtual_size)).toBe(SIZE + 4 * MiB);
    const raw = fresh('b.raw');
    copyFileSync(src, raw);
    const overRaw = fresh('over-raw.qcow2');
    qemuImg(['create', '-q', '-f', 'qcow2', '-b', raw.split('/').pop()!, '-F', 'raw', overRaw]);
    qemuIo(overRaw, ['write -P 0x11 3M 64k']);
    expectSameAsQemu(overRaw, 'qcow2');
  });

  it('differencing VHD: set bitmap bits read the child, clear bits the parent', () => {
    const parent = join(dir, 'parent.vhd');
    qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=dynamic,force_size=on', src, parent]);
    const child = join(dir, 'child.vhd');
    const writes = [
      { offset: 512, data: Buffer.alloc(1024, 0xa1) },
      { offset: 3 * MiB + 4096, data: seededBytes(8192, 9) },
      { offset: 17 * MiB, data: Buffer.alloc(512, 0xb2) },
    ];
    writeDiffVhd(child, parent, writes);
    const expected = fresh('expected.raw');
    const bytes = readFileSync(src);
    for (const w of writes) w.data.copy(bytes, w.offset);
    writeFileSync(expected, bytes);
    const out = fresh('diff.raw');
    const r = runNativeTool(['cat', child, out]);
    expect(r.code, r.stderr).toBe(0);
    expect(qemuCompare(expected, 'raw', out, 'raw').code).toBe(0);
    const i = info(child);
    expect(i.subformat).toBe('differencing');
    expect(i.parent).toContain('parent.vhd');
    // A parent whose UUID differs is refused: the chain is stale.
    const stale = join(dir, 'stale.vhd');
    writeDiffVhd(stale, parent, writes, { parentUuid: Buffer.alloc(16, 7) });
    expectError(stale, 'E_VHD_BAD_PARENT');
  });
});

describe('differencing VHDX (generated: qemu cannot write one)', () => {
  it('partially present blocks read the sector bitmap, full blocks the child, zero blocks zeros, the rest the parent', () => {
    const parent = join(dir, 'vparent.vhdx');
    qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vhdx', src, parent]);
    const child = join(dir, 'vchild.vhdx');
    const full = seededBytes(MiB, 51);
    const part1 = seededBytes(1024, 52);
    const part2 = seededBytes(4096, 53);
    writeDiffVhdx(child, parent, SIZE, [
      { block: 0, state: 'partial', sectors: [[1, part1], [100, part2]] },
      { block: 5, state: 'full', data: full },
      { block: 9, state: 'zero' },
      { block: 24, state: 'partial', sectors: [[2, part1]] }, // the last, partial block of the disk
    ]);
    const bytes = readFileSync(src);
    part1.copy(bytes, 512);
    part2.copy(bytes, 100 * 512);
    full.copy(bytes, 5 * MiB);
    bytes.fill(0, 9 * MiB, 10 * MiB);
    part1.copy(bytes, 24 * MiB + 1024);
    const expected = fresh('vexpected.raw');
    writeFileSync(expected, bytes);
    const out = fresh('vchild.raw');
    const r = runNativeTool(['cat', child, out]);
    expect(r.code, r.stderr).toBe(0);
    expect(qemuCompare(expected, 'raw', out, 'raw').code).toBe(0);
    const i = info(child);
    expect(i.subformat).toBe('differencing');
    expect(i.parent).toBe('vparent.vhdx');
    const stale = join(dir, 'vstale.vhdx');
    writeDiffVhdx(stale, parent, SIZE, [{ block: 5, state: 'full', data: full }], '01234567-89AB-CDEF-0123-456789ABCDEF');
    expectError(stale, 'E_VHDX_BAD_PARENT');
  });
});

describe('VHDX log replay', () => {
  it('replays a committed log entry in memory, exactly as `qemu-img check -r all` applies it', () => {
    const img = fresh('log.vhdx');
    qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vhdx', '-o', 'block_size=1048576', src, img]);
    const payload = seededBytes(MiB, 61);
    addPendingVhdxLogEntry(img, 15, payload); // block 15 (15 MiB) is a hole in the source
    const ours = fresh('log.raw');
    const r = runNativeTool(['cat', img, ours]);
    expect(r.code, r.stderr).toBe(0);
    const expected = readFileSync(src);
    payload.copy(expected, 15 * MiB);
    const exp = fresh('log-expected.raw');
    writeFileSync(exp, expected);
    expect(qemuCompare(exp, 'raw', ours, 'raw').code).toBe(0);
    // The file was not modified by reading it; qemu refuses it read-only until repaired.
    const repaired = fresh('log-repaired.vhdx');
    copyFileSync(img, repaired);
    expect(qemuCompare(img, 'vhdx', ours, 'raw').code).not.toBe(0);
    execFileSync('qemu-img', ['check', '-q', '-r', 'all', '-f', 'vhdx', repaired], { stdio: 'ignore' });
    expect(qemuCompare(repaired, 'vhdx', ours, 'raw').code).toBe(0);
    expect(info(img).logReplayed).toMatch(/^1 sectors/);
    // A damaged log entry (bad CRC) makes the disk unreadable rather than silently stale.
    const broken = fresh('log-broken.vhdx');
    copyFileSync(img, broken);
    patchFile(broken, MiB + 200, Buffer.from([0xff]));
    expectError(broken, 'E_VHDX_BAD_LOG');
  });
});

describe('huge sparse images stay cheap (block status from metadata, merged runs)', () => {
  for (const [fmt, size, kinds] of [
    ['qcow2', '8T', 'hole'],
    ['vhdx', '8T', 'zero'],
    ['vpc', '2000G', 'hole'],
    ['vdi', '4T', 'hole'],
  ] as const) {
    it(`${fmt} ${size}: three runs, found in well under a second, RSS bounded`, () => {
      const img = fresh(`huge.${fmt}`);
      qemuImg(['create', '-q', '-f', fmt, img, size]);
      execFileSync('qemu-io', ['-f', fmt, '-c', 'write -P 7 1G 64k', img], { stdio: 'ignore' });
      const t0 = Date.now();
      const r = runNativeTool(['map', img], { memoryLimitKiB: 512 * 1024 });
      expect(r.code, r.stderr).toBe(0);
      const runs = r.stdout.trim().split('\n').map((l) => l.split(' '));
      expect(runs).toHaveLength(3);
      expect(runs.map((x) => x[2])).toEqual([kinds, 'data', kinds]);
      expect(Number(runs[1][0])).toBe(1024 * MiB);
      expect(Date.now() - t0).toBeLessThan(5000);
      rmSync(img);
    });
  }
});

describe('parent chains obey the path guard, depth cap and loop detection', () => {
  it('refuses a backing file outside the image directory', () => {
    const sub = join(dir, 'guard');
    rmSync(sub, { recursive: true, force: true });
    mkdirSync(sub);
    const base = join(dir, 'outside.qcow2');
    qemuImg(['create', '-q', '-f', 'qcow2', base, '1M']);
    const child = join(sub, 'child.qcow2');
    qemuImg(['create', '-q', '-f', 'qcow2', '-b', '../outside.qcow2', '-F', 'qcow2', child]);
    expectError(child, 'E_PATH_ESCAPE');
  });

  it('refuses a loop and a chain deeper than 16', () => {
    const a = join(dir, 'loop-a.qcow2');
    const b = join(dir, 'loop-b.qcow2');
    qemuImg(['create', '-q', '-f', 'qcow2', a, '1M']);
    qemuImg(['create', '-q', '-f', 'qcow2', '-b', 'loop-a.qcow2', '-F', 'qcow2', b]);
    qemuImg(['rebase', '-q', '-u', '-f', 'qcow2', '-b', 'loop-b.qcow2', '-F', 'qcow2', a]);
    expectError(b, 'E_CORRUPT');
    let prev = 'deep-0.qcow2';
    qemuImg(['create', '-q', '-f', 'qcow2', join(dir, prev), '1M']);
    for (let k = 1; k <= 17; k++) {
      const name = `deep-${k}.qcow2`;
      qemuImg(['create', '-q', '-f', 'qcow2', '-u', '-b', prev, '-F', 'qcow2', join(dir, name), '1M']);
      prev = name;
    }
    expectError(join(dir, prev), 'E_TOO_LARGE');
  });
});

describe('damaged headers fail fast with stable codes', () => {
  const damage = (source: string, name: string, patches: Array<[number, Buffer]>): string => {
    const out = fresh(name);
    copyFileSync(source, out);
    for (const [off, bytes] of patches) patchFile(out, off, bytes);
    return out;
  };
  const be32 = (v: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0);
    return b;
  };
  const be64 = (v: bigint): Buffer => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    return b;
  };

  it('qcow2', () => {
    const img = convert('qcow2', [], 'ok.qcow2');
    expectError(damage(img, 'cb.qcow2', [[20, be32(40)]]), 'E_QCOW2_BAD_HEADER');
    expectError(damage(img, 'ver.qcow2', [[4, be32(7)]]), 'E_QCOW2_BAD_HEADER');
    expectError(damage(img, 'l1.qcow2', [[40, be64(1n << 50n)]]), 'E_QCOW2_BAD_TABLE');
    expectError(damage(img, 'l1size.qcow2', [[36, be32(0x7fffffff)]]), 'E_QCOW2_BAD_HEADER');
    expectError(damage(img, 'incompat.qcow2', [[72, be64(1n << 40n)]]), 'E_QCOW2_FEATURE');
    expectError(damage(img, 'crypt.qcow2', [[32, be32(2)]]), 'E_QCOW2_FEATURE');
    expectError(damage(img, 'backing.qcow2', [[8, be64(65000n)], [16, be32(900)]]), 'E_QCOW2_BAD_BACKING');
    // An L2 entry pointing far past the end of the file.
    const t = fresh('trunc.qcow2');
    copyFileSync(img, t);
    truncateSync(t, 4 * 65536);
    const r = runNativeTool(['cat', t, fresh('x.raw')]);
    expect(r.code).not.toBe(0);
    expect(['E_QCOW2_BAD_TABLE', 'E_TRUNCATED']).toContain(r.errorCode);
  });

  it('VHD', () => {
    const img = convert('vpc', ['subformat=dynamic'], 'ok.vhd');
    const size = statSync(img).size;
    expectError(damage(img, 'sum.vhd', [[size - 512 + 64, be32(0x1234)]]), 'E_VHD_BAD_CHECKSUM');
    const tail = readFileSync(img).subarray(size - 512);
    const batOffset = Number(readFileSync(img).readBigUInt64BE(512 + 16));
    expectError(damage(img, 'bat.vhd', [[batOffset, be32(0x7fffffff)]]), 'E_VHD_BAD_BAT');
    expect(tail.subarray(0, 8).toString()).toBe('conectix');
    const hdrSum = damage(img, 'hdr.vhd', [[512 + 32, be32(3000)]]);
    expectError(hdrSum, 'E_VHD_BAD_CHECKSUM');
  });

  it('VHDX', () => {
    const img = convert('vhdx', [], 'ok.vhdx');
    expectError(damage(img, 'heads.vhdx', [[65536 + 100, Buffer.from('x')], [131072 + 100, Buffer.from('x')]]), 'E_VHDX_BAD_HEADER');
    expectError(damage(img, 'regions.vhdx', [[196608 + 40, Buffer.from('x')], [262144 + 40, Buffer.from('x')]]), 'E_VHDX_BAD_REGION');
    const dirty = fresh('dirty.vhdx');
    copyFileSync(img, dirty);
    markVhdxLogDirty(dirty);
    expectError(dirty, 'E_VHDX_BAD_LOG'); // dirty, but no log entry carries its LogGuid
    const t = fresh('trunc.vhdx');
    copyFileSync(img, t);
    truncateSync(t, 3 * MiB + 4096);
    const r = runNativeTool(['cat', t, fresh('x.raw')]);
    expect(r.code).not.toBe(0);
    expect(r.errorCode).toMatch(/^E_(VHDX_BAD_REGION|VHDX_BAD_BAT|TRUNCATED)$/);
  });

  it('VDI', () => {
    const img = convert('vdi', [], 'ok.vdi');
    const h = readFileSync(img);
    const offBlocks = h.readUInt32LE(340);
    expectError(damage(img, 'ver.vdi', [[68, u32(0x00070001)]]), 'E_VDI_BAD_HEADER');
    expectError(damage(img, 'type.vdi', [[76, u32(4)]]), 'E_UNSUPPORTED');
    expectError(damage(img, 'bs.vdi', [[376, u32(3000)]]), 'E_VDI_BAD_HEADER');
    expectError(damage(img, 'idx.vdi', [[offBlocks, u32(999999)]]), 'E_VDI_BAD_BLOCK_MAP');
    expectError(damage(img, 'dup.vdi', [[offBlocks + 4, h.subarray(offBlocks, offBlocks + 4)]]), 'E_VDI_BAD_BLOCK_MAP');
    expectError(damage(img, 'count.vdi', [[384, u32(0xffffffff)]]), 'E_VDI_BAD_HEADER');
  });
});
