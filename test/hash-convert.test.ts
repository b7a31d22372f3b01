// `h2k convert --hash`: the source file's hash and the guest content's hash come out of the
// conversion pass; oracles are md5sum/xxhsum of the source file and of qemu-img's raw export.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { runH2k } from './helpers/cli.js';
import { makeSeededRaw, qemuImg, tempDir, toVmdk } from './helpers/fixtures.js';
import { toolDigest, type Algo } from './helpers/hash-oracles.js';
import { manifestFor, writeTar, type TarEntry } from './helpers/formats-fixtures.js';
import { writeStreamVmdk } from './helpers/vmdk-stream-generator.js';

interface Result {
  sourceBytesReread: number;
  sourceFiles: { path: string; hashes: Record<string, string>; bytesReread: number }[];
  sourceHashes: Record<string, string>;
  contentHashes: Record<string, string>;
  output: string;
}

let tmp: ReturnType<typeof tempDir>;
let exportRaw: string;
beforeAll(() => {
  tmp = tempDir('hash-convert');
  const raw = makeSeededRaw(join(tmp.dir, 'disk.raw'), 40, 23);
  toVmdk(raw, join(tmp.dir, 'disk-sparse.vmdk'), 'monolithicSparse');
  toVmdk(raw, join(tmp.dir, 'disk-stream.vmdk'), 'streamOptimized');
  exportRaw = join(tmp.dir, 'export.raw');
  qemuImg(['convert', '-q', '-O', 'raw', join(tmp.dir, 'disk-sparse.vmdk'), exportRaw]);
  // Sources whose file the conversion reads out of order, partly, or with holes: the source
  // hash comes from the conversion's own reads plus the hasher's reads of what it skipped.
  writeStreamVmdk(raw, join(tmp.dir, 'disk-reversed.vmdk'), 40 << 20, { reverseGrainOrder: true });
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'qcow2', '-c', raw, join(tmp.dir, 'disk-zlib.qcow2')]);
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vhdx', raw, join(tmp.dir, 'disk.vhdx')]);
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed,force_size=on', raw, join(tmp.dir, 'disk-fixed.vhd')]);
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vdi', raw, join(tmp.dir, 'disk.vdi')]);
  toVmdk(raw, join(tmp.dir, 'disk-split.vmdk'), 'twoGbMaxExtentSparse');
  toVmdk(raw, join(tmp.dir, 'disk-mflat.vmdk'), 'monolithicFlat');
  const members: TarEntry[] = [
    { name: 'vm.ovf', data: Buffer.from('<?xml version="1.0"?><Envelope/>') },
    { name: 'vm-disk1.vmdk', path: join(tmp.dir, 'disk-stream.vmdk') },
  ];
  writeTar(join(tmp.dir, 'vm.ova'), [...members, { name: 'vm.mf', data: manifestFor(members) }]);
});
afterAll(() => tmp.cleanup());

describe('convert --hash', () => {
  const cases: [string, string, Algo[], string[]][] = [
    ['disk-sparse.vmdk', 'qcow2', ['md5', 'xxh3'], []],
    ['disk-stream.vmdk', 'raw', ['xxh128', 'sha256'], []],
    ['disk.raw', 'qcow2', ['md5', 'xxh3'], ['-c', 'zstd']],
    ['disk-reversed.vmdk', 'qcow2', ['xxh3'], []],
    ['disk-zlib.qcow2', 'qcow2', ['xxh3', 'md5'], ['-c', 'zstd']],
    ['disk.vhdx', 'raw', ['xxh128'], []],
    ['disk-fixed.vhd', 'qcow2', ['xxh3', 'sha256'], []],
    ['disk.vdi', 'qcow2', ['md5'], []],
  ];
  for (const [src, fmt, algos, extra] of cases) {
    it(`${src} -> ${fmt} ${extra.join(' ')}: source = hash of the file, content = hash of qemu-img's raw export`, async () => {
      const out = join(tmp.dir, `${src}.${fmt}`);
      const r = await runH2k(['convert', join(tmp.dir, src), '-O', fmt, '-o', out, '--json', '--hash', ...algos, ...extra]);
      expect(r.code, r.stderr).toBe(0);
      const res = (JSON.parse(r.stdout) as { results: Result[] }).results[0];
      for (const a of algos) {
        expect(res.sourceHashes[a], `source ${a}`).toBe(toolDigest(a, join(tmp.dir, src)));
        expect(res.contentHashes[a], `content ${a}`).toBe(toolDigest(a, exportRaw));
      }
      // "No second read": the source hash came from the conversion's own reads, except for
      // what it skips (metadata read at open, unread regions) — the reversed stream is the
      // worst case, its grains are read against file order.
      const rereadShare = res.sourceBytesReread / statSync(join(tmp.dir, src)).size;
      // qcow2 (refcount blocks) and VHDX (log, 8 MiB of metadata area) carry metadata the
      // conversion never reads, a large share of these small files.
      const ceiling = /\.(qcow2|vhdx)$/.test(src) ? 0.2 : 0.05;
      if (src !== 'disk-reversed.vmdk') expect(rereadShare, 'share of the source file read twice').toBeLessThan(ceiling);
      // And the output really holds that content.
      const back = join(tmp.dir, `${src}.${fmt}.back.raw`);
      qemuImg(['convert', '-q', '-O', 'raw', out, back]);
      expect(toolDigest(algos[0], back)).toBe(res.contentHashes[algos[0]]);
    });
  }

  for (const src of ['disk-split.vmdk', 'disk-mflat.vmdk']) {
    it(`${src}: every file of the disk (descriptor and extents) is hashed from the conversion's reads`, async () => {
      const out = join(tmp.dir, `${src}.qcow2`);
      const r = await runH2k(['convert', join(tmp.dir, src), '-o', out, '--json', '--hash', 'xxh3', 'md5']);
      expect(r.code, r.stderr).toBe(0);
      const res = (JSON.parse(r.stdout) as { results: Result[] }).results[0];
      expect(res.sourceFiles.length).toBeGreaterThanOrEqual(2);
      expect(res.sourceFiles[0].path).toBe(join(tmp.dir, src));
      expect(res.sourceHashes).toEqual(res.sourceFiles[0].hashes);
      for (const f of res.sourceFiles)
        for (const a of ['xxh3', 'md5'] as Algo[]) expect(f.hashes[a], `${f.path} ${a}`).toBe(toolDigest(a, f.path));
      const dataFiles = res.sourceFiles.slice(1);
      const dataBytes = dataFiles.reduce((n, f) => n + statSync(f.path).size, 0);
      expect(dataFiles.reduce((n, f) => n + f.bytesReread, 0) / dataBytes).toBeLessThan(0.05);
      expect(res.contentHashes.xxh3).toBe(toolDigest('xxh3', exportRaw));
      // The text summary lists the extent files md5sum-style.
      const t = await runH2k(['convert', join(tmp.dir, src), '-o', `${out}.2`, '-O', 'raw', '--hash', 'md5']);
      expect(t.code, t.stderr).toBe(0);
      for (const f of dataFiles) expect(t.stdout).toContain(`${toolDigest('md5', f.path)}  ${f.path}`);
    });
  }

  it("a disk inside an OVA: the source hash is the archive's, read in place", async () => {
    const out = join(tmp.dir, 'ova-disk.qcow2');
    const r = await runH2k(['convert', join(tmp.dir, 'vm.ova', 'vm-disk1.vmdk'), '-o', out, '--json', '--hash', 'xxh3', 'md5']);
    expect(r.code, r.stderr).toBe(0);
    const res = (JSON.parse(r.stdout) as { results: Result[] }).results[0];
    for (const a of ['xxh3', 'md5'] as Algo[]) {
      expect(res.sourceHashes[a], `source ${a}`).toBe(toolDigest(a, join(tmp.dir, 'vm.ova')));
      expect(res.contentHashes[a], `content ${a}`).toBe(toolDigest(a, exportRaw));
    }
  });

  it('a source that fails mid-conversion ends the hash too: clean error, no output, no hang', async () => {
    const cut = join(tmp.dir, 'cut.vmdk');
    copyFileSync(join(tmp.dir, 'disk-sparse.vmdk'), cut);
    truncateSync(cut, Math.floor(statSync(cut).size / 2));
    const out = join(tmp.dir, 'cut.qcow2');
    const t0 = Date.now();
    const r = await runH2k(['convert', cut, '-o', out, '--hash', 'xxh3', 'md5']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/E_TRUNCATED|E_VMDK_BAD_GTE/);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(existsSync(out) || existsSync(out + '.partial')).toBe(false);
  });

  it('text output lists both hashes; an unknown algorithm is a usage error and writes nothing', async () => {
    const out = join(tmp.dir, 'text.qcow2');
    const r = await runH2k(['convert', join(tmp.dir, 'disk-sparse.vmdk'), '-o', out, '--hash', 'xxh3']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`source xxh3:  ${toolDigest('xxh3', join(tmp.dir, 'disk-sparse.vmdk'))}`);
    expect(r.stdout).toContain(`content xxh3: ${toolDigest('xxh3', exportRaw)}`);
    const bad = join(tmp.dir, 'bad.qcow2');
    const b = await runH2k(['convert', join(tmp.dir, 'disk-sparse.vmdk'), '-o', bad, '--hash', 'crc32']);
    expect(b.code).toBe(2);
    expect(existsSync(bad) || existsSync(bad + '.partial')).toBe(false);
  });
});
