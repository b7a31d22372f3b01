// `h2k convert --hash`: the source file's hash and the guest content's hash come out of the
// conversion pass; oracles are md5sum/xxhsum of the source file and of qemu-img's raw export.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runH2k } from './helpers/cli.js';
import { makeSeededRaw, qemuImg, tempDir, toVmdk } from './helpers/fixtures.js';
import { toolDigest, type Algo } from './helpers/hash-oracles.js';

interface Result {
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
});
afterAll(() => tmp.cleanup());

describe('convert --hash', () => {
  const cases: [string, string, Algo[], string[]][] = [
    ['disk-sparse.vmdk', 'qcow2', ['md5', 'xxh3'], []],
    ['disk-stream.vmdk', 'raw', ['xxh128', 'sha256'], []],
    ['disk.raw', 'qcow2', ['md5', 'xxh3'], ['-c', 'zstd']],
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
      // And the output really holds that content.
      const back = join(tmp.dir, `${src}.${fmt}.back.raw`);
      qemuImg(['convert', '-q', '-O', 'raw', out, back]);
      expect(toolDigest(algos[0], back)).toBe(res.contentHashes[algos[0]]);
    });
  }

  it('text output lists both hashes; an unknown algorithm is a usage error and writes nothing', async () => {
    const out = join(tmp.dir, 'text.qcow2');
    const r = await runH2k(['convert', join(tmp.dir, 'disk-sparse.vmdk'), '-o', out, '--hash', 'xxh3']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`source xxh3:  ${toolDigest('xxh3', join(tmp.dir, 'disk-sparse.vmdk'))}`);
    expect(r.stdout).toContain(`content xxh3: ${toolDigest('xxh3', exportRaw)}`);
    const bad = join(tmp.dir, 'bad.qcow2');
    const b = await runH2k(['convert', join(tmp.dir, 'disk-sparse.vmdk'), '-o', bad, '--hash', 'crc32']);
    expect(b.code).toBe(64);
    expect(existsSync(bad) || existsSync(bad + '.partial')).toBe(false);
  });
});
