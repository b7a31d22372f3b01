// `h2k check` against qemu-img on the same images: every format h2k reads checks clean (exit 0)
// with the allocated clusters `qemu-img map` reports; damaged images exit 2 with their code and
// offset (human and --output=json); a missing file exits 1. Each image is small (8 MiB).
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, ftruncateSync, openSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runH2k } from './helpers/cli.js';
import { qemuImg, tempDir } from './helpers/fixtures.js';
import { MiB, patchFile, readAt, readSparseHeader, seededBytes } from './helpers/vmdk-fixtures.js';

const tmp = tempDir('cli-check');
const raw = join(tmp.dir, 'disk.raw');
const img = (name: string) => join(tmp.dir, name);

// name, qemu-img convert options, qemu's format name, allocation unit h2k reports
const GOOD: Array<[string, string[], string, number | undefined]> = [
  ['disk.raw', [], 'raw', undefined],
  ['disk.qcow2', ['-O', 'qcow2'], 'qcow2', 65536],
  ['c.qcow2', ['-O', 'qcow2', '-c'], 'qcow2', 65536],
  ['sparse.vmdk', ['-O', 'vmdk', '-o', 'subformat=monolithicSparse'], 'vmdk', 65536],
  ['stream.vmdk', ['-O', 'vmdk', '-o', 'subformat=streamOptimized'], 'vmdk', 65536],
  ['disk.vdi', ['-O', 'vdi'], 'vdi', MiB],
  ['disk.vhd', ['-O', 'vpc'], 'vpc', 2 * MiB],
  ['disk.vhdx', ['-O', 'vhdx', '-o', 'block_size=1M'], 'vhdx', MiB],
];

beforeAll(() => {
  // Data at unaligned places with holes between them; 8 MiB (a multiple of every unit above).
  const fd = openSync(raw, 'w');
  ftruncateSync(fd, 8 * MiB);
  for (const [off, len, seed] of [[0, 70000, 1], [3 * MiB + 512, 1000, 2], [5 * MiB, 200000, 3], [8 * MiB - 512, 512, 4]])
    writeSync(fd, seededBytes(len, seed), 0, len, off);
  closeSync(fd);
  for (const [name, opts] of GOOD.slice(1)) qemuImg(['convert', '-q', '-f', 'raw', ...opts, raw, img(name)]);
  // compressible: qemu-img -c stores the seeded (random) clusters above uncompressed
  writeFileSync(img('text.raw'), Buffer.alloc(MiB, 'h2k check reads every cluster. '));
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'qcow2', '-c', img('text.raw'), img('text-c.qcow2')]);
}, 60_000);
afterAll(() => tmp.cleanup());

/** Units of `unit` bytes holding data according to `qemu-img map --output=json`. */
function qemuAllocated(path: string, format: string, unit: number): number {
  const units = new Set<number>();
  for (const m of JSON.parse(qemuImg(['map', '--output=json', '-f', format, path])) as { start: number; length: number; data: boolean }[])
    if (m.data) for (let u = Math.floor(m.start / unit); u <= Math.floor((m.start + m.length - 1) / unit); u++) units.add(u);
  return units.size;
}

/** VHDX region table 1 (at 192 KiB): the BAT's file offset. */
function vhdxBat(path: string): number {
  const t = readAt(path, 192 * 1024, 64 * 1024);
  for (let i = 0; i < t.readUInt32LE(8); i++) if (t.readUInt32LE(16 + i * 32) === 0x2dc27766) return Number(t.readBigUInt64LE(16 + i * 32 + 16));
  throw new Error(`${path}: no BAT region`);
}

/** Payload BAT entries 0..blocks-1 (before the first sector bitmap entry) FULLY (6) or PARTIALLY (7) present. */
function vhdxPresentBlocks(path: string, blocks: number): number {
  const bat = readAt(path, vhdxBat(path), blocks * 8);
  let n = 0;
  for (let i = 0; i < blocks; i++) if ([6n, 7n].includes(bat.readBigUInt64LE(i * 8) & 7n)) n++;
  return n;
}

/** qemu-img check's exit code and stdout (its per-cluster messages go to stderr). */
function qemuCheck(args: string[]): { code: number | null; out: string } {
  const r = spawnSync('qemu-img', ['check', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout };
}

async function checkJson(path: string): Promise<{ code: number | null; json: Record<string, any>; stderr: string }> {
  const r = await runH2k(['check', '--output=json', path]);
  return { code: r.code, json: JSON.parse(r.stdout), stderr: r.stderr };
}

async function checkJson2(args: string[]): Promise<{ code: number | null; json: Record<string, any> }> {
  const r = await runH2k(['check', '--output=json', ...args]);
  return { code: r.code, json: JSON.parse(r.stdout) };
}

describe('h2k check: good images', () => {
  for (const [name, , qemuFormat, unit] of GOOD) {
    it(`${name}: exit 0, allocated clusters as qemu-img map says`, async () => {
      const { code, json, stderr } = await checkJson(img(name));
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(json).toMatchObject({ filename: img(name), 'check-errors': 0 });
      expect(json.corruptions).toBeUndefined();
      if (unit === undefined) {
        expect(json['total-clusters']).toBeUndefined(); // raw has no allocation table
        return;
      }
      const virtualSize = (JSON.parse(qemuImg(['info', '--output=json', '-f', qemuFormat, img(name)])) as { 'virtual-size': number })['virtual-size'];
      expect(json['total-clusters']).toBe(Math.ceil(virtualSize / unit));
      // qemu's vhdx driver reports every block as data (no block status): read the BAT instead.
      // (qcow2: against qemu-img check itself, below.)
      expect(json['allocated-clusters']).toBe(qemuFormat === 'vhdx' ? vhdxPresentBlocks(img(name), 8) : qemuAllocated(img(name), qemuFormat, unit));
      expect(json['allocated-clusters']).toBeGreaterThan(0);
      if (name === 'stream.vmdk') expect(json['compressed-clusters']).toBe(json['allocated-clusters']);
    }, 60_000);
  }

  it("qcow2: every cluster figure and the human lines are qemu-img check's (fragmented, zero-allocated, 4 KiB clusters, 4 L2 tables)", async () => {
    const f = img('frag.qcow2');
    qemuImg(['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', f, '10M']);
    // out of file order, across an L2 boundary (2 MiB), a zero-allocated cluster (write -P 0, then -z)
    execFileSync('qemu-io', ['-f', 'qcow2', ...['write -P 1 1M 8k', 'write -P 2 0 4k', 'write -P 3 2040k 16k', 'write -P 0 7M 4k', 'write -z 7M 4k', 'write -P 4 9M 4k'].flatMap((c) => ['-c', c]), f], { stdio: 'ignore' });
    const q5 = img('q5.qcow2'); // 5/160 = 3.125%: printf rounds the exact half to even (3.12)
    qemuImg(['create', '-q', '-f', 'qcow2', q5, '10M']);
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 1 0 200k', '-c', 'write -P 2 3M 64k', q5], { stdio: 'ignore' });
    const mine = img('h2k-c.qcow2'); // h2k's own writer, compressed
    expect((await runH2k(['convert', img('sparse.vmdk'), '-o', mine, '-c', 'zlib', '--no-progress'])).code).toBe(0);
    for (const q of [f, q5, img('disk.qcow2'), img('c.qcow2'), img('text-c.qcow2'), mine]) {
      const qemu = JSON.parse(qemuImg(['check', '--output=json', q])) as Record<string, number>;
      const { code, json } = await checkJson(q);
      expect(code).toBe(0);
      for (const key of ['total-clusters', 'allocated-clusters', 'fragmented-clusters', 'compressed-clusters', 'image-end-offset'])
        expect({ q, key, n: json[key] }).toEqual({ q, key, n: qemu[key] ?? 0 });
      expect(json.leaks).toBeUndefined();
      const r = await runH2k(['check', q]);
      expect(r.stdout).toBe(qemuImg(['check', q]));
    }
    expect((JSON.parse(qemuImg(['check', '--output=json', f])) as Record<string, number>)['fragmented-clusters']).toBeGreaterThan(0);
    expect((JSON.parse(qemuImg(['check', '--output=json', img('text-c.qcow2')])) as Record<string, number>)['compressed-clusters']).toBe(16);
  });
});

describe('h2k check: damaged images exit 2 with the code and offset', () => {
  it('monolithicSparse VMDK: a grain table entry past the end of the file', async () => {
    const p = img('bad-gte.vmdk');
    copyFileSync(img('sparse.vmdk'), p);
    const gd = Number(readSparseHeader(p).gdOffset) * 512;
    const gt = readAt(p, gd, 4).readUInt32LE() * 512;
    const e = Buffer.alloc(4);
    e.writeUInt32LE(Math.ceil(statSync(p).size / 512) + 1000);
    patchFile(p, gt, e);
    const { code, json } = await checkJson(p);
    expect(code).toBe(2);
    expect(json).toMatchObject({ format: 'vmdk', 'check-errors': 0, corruptions: 1, error: { code: 'E_VMDK_BAD_GTE' } });
    expect(json.error.offset).toBe(gt);
    const h = await runH2k(['check', p]);
    expect(h.code).toBe(2);
    expect(h.stdout).toContain('1 errors were found on the image.');
    expect(h.stderr).toContain('[E_VMDK_BAD_GTE]');
    expect(h.stderr).toContain(`byte offset ${gt}`);
  });

  it('streamOptimized VMDK: a compressed grain that does not inflate is found by reading it', async () => {
    const p = img('bad-grain.vmdk');
    copyFileSync(img('stream.vmdk'), p);
    const grain = Number(readSparseHeader(p).overHead) * 512; // first grain marker (lba 0)
    expect(readAt(p, grain, 8).readBigUInt64LE()).toBe(0n);
    patchFile(p, grain + 12 + 2, Buffer.alloc(64, 0xff)); // keep the zlib header, break the stream
    const info = await runH2k(['info', p]);
    expect(info.code).toBe(0); // metadata is fine: only reading the grain finds it
    const { code, json } = await checkJson(p);
    expect(code).toBe(2);
    expect(json).toMatchObject({ corruptions: 1, error: { code: expect.stringMatching(/^E_(DECOMPRESS|VMDK_BAD_GRAIN)$/) } });
  });

  it('compressed qcow2: a cluster that does not inflate is found by reading it', async () => {
    const p = img('bad-cluster.qcow2');
    copyFileSync(img('text-c.qcow2'), p);
    const h = readAt(p, 0, 72);
    const l2 = Number(readAt(p, Number(h.readBigUInt64BE(40)), 8).readBigUInt64BE() & 0x00ff_ffff_ffff_fe00n);
    const entry = readAt(p, l2, 8).readBigUInt64BE(); // guest cluster 0: compressed (bit 62)
    expect(entry >> 62n).toBe(1n);
    const host = Number(entry & ((1n << BigInt(62 - (h.readUInt32BE(20) - 8))) - 1n)); // qcow2 spec: x = 62 - (cluster_bits - 8)
    patchFile(p, host, Buffer.alloc(64, 0xff));
    expect((await runH2k(['info', p])).code).toBe(0);
    const { code, json } = await checkJson(p);
    expect(code).toBe(2);
    expect(json).toMatchObject({ format: 'qcow2', corruptions: 1, error: { code: 'E_DECOMPRESS' } });
  });

  it('qcow2: a leaked cluster exits 3 with leaks 1, and a refcount too small exits 2, as qemu-img check', async () => {
    const leak = img('leak.qcow2');
    copyFileSync(img('disk.qcow2'), leak);
    const h = readAt(leak, 0, 72);
    const l2 = Number(readAt(leak, Number(h.readBigUInt64BE(40)), 8).readBigUInt64BE() & 0x00ff_ffff_ffff_fe00n);
    patchFile(leak, l2, Buffer.alloc(8)); // guest cluster 0 forgotten: its host cluster still has refcount 1
    const q = qemuCheck(['--output=json', leak]);
    expect(q.code).toBe(3);
    const { code, json } = await checkJson(leak);
    expect(code).toBe(3);
    expect(json).toMatchObject({ leaks: 1, 'check-errors': 0, 'image-end-offset': JSON.parse(q.out)['image-end-offset'] });
    const human = await runH2k(['check', leak]);
    expect(human.code).toBe(3);
    expect(human.stdout).toBe(qemuCheck([leak]).out);

    const under = img('under.qcow2');
    copyFileSync(img('disk.qcow2'), under);
    const dataCluster = Number(readAt(under, l2, 8).readBigUInt64BE() & 0x00ff_ffff_ffff_fe00n) / 65536;
    const block = Number(readAt(under, Number(h.readBigUInt64BE(48)), 8).readBigUInt64BE());
    patchFile(under, block + 2 * dataCluster, Buffer.alloc(2)); // its refcount: 0 (16-bit refcounts)
    expect(qemuCheck([under]).code).toBe(2);
    const bad = await checkJson(under);
    expect(bad.code).toBe(2);
    expect(bad.json).toMatchObject({ corruptions: 1, error: { code: 'E_QCOW2_BAD_REFCOUNT', offset: dataCluster * 65536 } });
  });

  it('streamOptimized VMDK cut in half', async () => {
    const p = img('cut.vmdk');
    copyFileSync(img('stream.vmdk'), p);
    truncateSync(p, Math.floor(statSync(p).size / 2));
    const { code, json } = await checkJson(p);
    expect(code).toBe(2);
    expect(json.corruptions).toBe(1);
    expect(json.error.code).toMatch(/^E_/);
  });

  it('VHDX: BAT entry past the end of the file', async () => {
    const p = img('bat-eof.vhdx');
    copyFileSync(img('disk.vhdx'), p);
    const bat = vhdxBat(p);
    const e = Buffer.alloc(8);
    e.writeBigUInt64LE(BigInt(Math.ceil(statSync(p).size / MiB) + 16) * BigInt(MiB) | 6n); // FULLY_PRESENT past EOF
    patchFile(p, bat, e);
    const { code, json } = await checkJson(p);
    expect(code).toBe(2);
    expect(json).toMatchObject({ format: 'vhdx', corruptions: 1, error: { code: expect.stringMatching(/^E_VHDX_/) } });
    expect(json.error.offset).toBeTypeOf('number');
  });
});

describe('h2k check: could not check', () => {
  it('a disk inside an OVA is checked through the archive', async () => {
    const ovf = img('vm.ovf');
    writeFileSync(ovf, '<?xml version="1.0"?><Envelope/>');
    execFileSync('tar', ['-C', tmp.dir, '-cf', img('vm.ova'), 'vm.ovf', 'stream.vmdk']);
    const { code, json } = await checkJson(img('vm.ova'));
    expect(code).toBe(0);
    expect(json).toMatchObject({ format: 'ova', 'check-errors': 0 });
  });

  it('a missing file exits 1 (check-errors 1, E_NOT_FOUND)', async () => {
    const { code, json } = await checkJson(img('nope.qcow2'));
    expect(code).toBe(1);
    expect(json).toMatchObject({ filename: img('nope.qcow2'), 'check-errors': 1, error: { code: 'E_NOT_FOUND' } });
    const h = await runH2k(['check', '--output', 'json', img('nope.qcow2')]);
    expect(JSON.parse(h.stdout).error.code).toBe('E_NOT_FOUND');
    expect((await runH2k(['check', img('nope.qcow2')])).code).toBe(1);
  });

  it('-f naming another format exits 1 (E_FORMAT_MISMATCH); an unknown -f exits 63; the right -f checks', async () => {
    const wrong = await checkJson2(['-f', 'vmdk', img('disk.qcow2')]);
    expect(wrong.code).toBe(1);
    expect(wrong.json).toMatchObject({ 'check-errors': 1, error: { code: 'E_FORMAT_MISMATCH' } });
    const unknown = await checkJson2(['-f', 'nosuch', img('disk.qcow2')]);
    expect(unknown.code).toBe(63);
    expect(unknown.json.error.code).toBe('E_UNKNOWN_FORMAT');
    expect((await checkJson2(['-f', 'qcow2', img('disk.qcow2')])).code).toBe(0);
  });
});
