// `h2k hash` end to end: output byte-compatible with md5sum/sha256sum/xxhsum, --check like
// `md5sum -c` (FAILED + non-zero exit), content hashes equal across container formats and
// equal to the hash of `qemu-img convert -O raw`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand, runH2k } from './helpers/cli.js';
import { makeSeededRaw, qemuImg, tempDir, toVmdk } from './helpers/fixtures.js';
import { toolDigest } from './helpers/hash-oracles.js';

let tmp: ReturnType<typeof tempDir>;
const files = ['empty', 'one', 'a b.bin', 'big.bin'];

beforeAll(() => {
  tmp = tempDir('hash-cli');
  writeFileSync(join(tmp.dir, 'empty'), '');
  writeFileSync(join(tmp.dir, 'one'), 'x');
  writeFileSync(join(tmp.dir, 'a b.bin'), Buffer.from('name with a space\n'));
  makeSeededRaw(join(tmp.dir, 'big.bin'), 3, 5);
});
afterAll(() => tmp.cleanup());

const tool = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { cwd: tmp.dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

describe('output lines', () => {
  it('md5 (default), sha256, sha1, sha512 and xxh128 lines are byte-identical to md5sum, sha256sum, sha1sum, sha512sum, xxhsum -H2', async () => {
    for (const [args, cmd, cargs] of [
      [[], 'md5sum', []],
      [['-a', 'sha256'], 'sha256sum', []],
      [['-a', 'sha1'], 'sha1sum', []],
      [['-a', 'sha512'], 'sha512sum', []],
      [['-a', 'xxh128'], 'xxhsum', ['-H2']],
    ] as [string[], string, string[]][]) {
      const r = await runH2k(['hash', ...args, ...files], { cwd: tmp.dir });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(tool(cmd, [...cargs, ...files]));
    }
  });

  it('xxh3 lines are what xxhsum -H3 prints (BSD style), --untagged gives <hex>  <name>', async () => {
    const r = await runH2k(['hash', '-a', 'xxh3', ...files], { cwd: tmp.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(tool('xxhsum', ['-H3', ...files]));
    const u = await runH2k(['hash', '-a', 'xxh3', '--untagged', 'one'], { cwd: tmp.dir });
    expect(u.stdout).toBe(`${toolDigest('xxh3', join(tmp.dir, 'one'))}  one\n`);
  });

  it('--tag matches md5sum --tag; several algorithms in one pass; stdin as -', async () => {
    const t = await runH2k(['hash', '--tag', 'one', 'big.bin'], { cwd: tmp.dir });
    expect(t.stdout).toBe(tool('md5sum', ['--tag', 'one', 'big.bin']));
    const m = await runH2k(['hash', '-a', 'md5,sha256', 'big.bin'], { cwd: tmp.dir });
    expect(m.stdout.split('\n')).toEqual([...tool('md5sum', ['big.bin']).split('\n').slice(0, 1), ...tool('sha256sum', ['big.bin']).split('\n')]);
    const s = await runH2k(['hash', '-'], { cwd: tmp.dir, input: 'hello\n' });
    expect(s.stdout).toBe('b1946ac92492d2347c6235b4d2611184  -\n');
  });

  it('--json carries every digest and byte counts', async () => {
    const r = await runH2k(['hash', '--json', '-a', 'md5', '-a', 'xxh3', 'big.bin', 'one'], { cwd: tmp.dir });
    const out = JSON.parse(r.stdout) as { results: { file: string; bytes: number; digests: Record<string, string> }[] };
    expect(out.results.map((x) => x.file)).toEqual(['big.bin', 'one']);
    expect(out.results[0].bytes).toBe(3 * 1024 * 1024);
    expect(out.results[0].digests.md5).toBe(toolDigest('md5', join(tmp.dir, 'big.bin')));
    expect(out.results[0].digests.xxh3).toBe(toolDigest('xxh3', join(tmp.dir, 'big.bin')));
  });

  it('a missing file: error on stderr with its code, the others still hashed, non-zero exit', async () => {
    const r = await runH2k(['hash', 'one', 'missing'], { cwd: tmp.dir });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe(tool('md5sum', ['one']));
    expect(r.stderr).toContain('E_NOT_FOUND');
  });

  it('bad usage exits 64', async () => {
    expect((await runH2k(['hash', '-a', 'crc32', 'one'], { cwd: tmp.dir })).code).toBe(64);
    expect((await runH2k(['hash'], { cwd: tmp.dir })).code).toBe(64);
  });
});

describe('--check', () => {
  it('verifies sum files written by md5sum, sha256sum and xxhsum (-H3 and -H2)', async () => {
    writeFileSync(join(tmp.dir, 'SUMS.md5'), tool('md5sum', files));
    writeFileSync(join(tmp.dir, 'SUMS.sha256'), tool('sha256sum', files));
    writeFileSync(join(tmp.dir, 'sums.xxh3'), tool('xxhsum', ['-H3', ...files]));
    writeFileSync(join(tmp.dir, 'sums.xxh128'), tool('xxhsum', ['-H2', ...files]));
    for (const sums of ['SUMS.md5', 'SUMS.sha256', 'sums.xxh3', 'sums.xxh128']) {
      const r = await runH2k(['hash', '--check', sums], { cwd: tmp.dir });
      expect(r.code, `${sums}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toBe(files.map((f) => `${f}: OK\n`).join(''));
    }
  });

  it('its own output is accepted by md5sum -c and xxhsum -c', async () => {
    writeFileSync(join(tmp.dir, 'own.md5'), (await runH2k(['hash', ...files], { cwd: tmp.dir })).stdout);
    writeFileSync(join(tmp.dir, 'own.xxh3'), (await runH2k(['hash', '-a', 'xxh3', ...files], { cwd: tmp.dir })).stdout);
    expect((await runCommand('md5sum', ['-c', 'own.md5'], { cwd: tmp.dir })).code).toBe(0);
    expect((await runCommand('xxhsum', ['-c', 'own.xxh3'], { cwd: tmp.dir })).code).toBe(0);
  });

  it('a modified file is FAILED and the exit code is non-zero; missing and malformed lines are reported', async () => {
    const dir = tempDir('hash-check');
    try {
      writeFileSync(join(dir.dir, 'f1'), 'one');
      writeFileSync(join(dir.dir, 'f2'), 'two');
      writeFileSync(join(dir.dir, 'sums'), tool('md5sum', [join(dir.dir, 'f1'), join(dir.dir, 'f2')]));
      appendFileSync(join(dir.dir, 'f2'), '!');
      const r = await runH2k(['hash', '-c', join(dir.dir, 'sums')]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe(`${join(dir.dir, 'f1')}: OK\n${join(dir.dir, 'f2')}: FAILED\n`);
      expect(r.stderr).toContain('1 computed checksum did NOT match');
      // md5sum agrees with the verdict.
      expect((await runCommand('md5sum', ['-c', join(dir.dir, 'sums')])).code).toBe(1);

      appendFileSync(join(dir.dir, 'sums'), `d41d8cd98f00b204e9800998ecf8427e  ${join(dir.dir, 'gone')}\nnot a checksum line\n`);
      const m = await runH2k(['hash', '-c', join(dir.dir, 'sums'), '--quiet']);
      expect(m.code).toBe(1);
      expect(m.stdout).toBe(`${join(dir.dir, 'f2')}: FAILED\n${join(dir.dir, 'gone')}: FAILED open or read\n`);
      expect(m.stderr).toContain('1 line is improperly formatted');
      expect(m.stderr).toContain('1 listed file could not be read');
      const st = await runH2k(['hash', '-c', join(dir.dir, 'sums'), '--status']);
      expect(st.code).toBe(1);
      expect(st.stdout + st.stderr).toBe('');

      writeFileSync(join(dir.dir, 'junk'), 'nothing here\n');
      const j = await runH2k(['hash', '-c', join(dir.dir, 'junk')]);
      expect(j.code).toBe(1);
      expect(j.stderr).toContain('no properly formatted checksum lines found');
    } finally {
      dir.cleanup();
    }
  });
});

describe('--content', () => {
  it('one disk as raw, monolithicSparse, streamOptimized and qcow2 hashes the same, equal to qemu-img convert -O raw', async () => {
    const raw = makeSeededRaw(join(tmp.dir, 'disk.raw'), 24, 11);
    toVmdk(raw, join(tmp.dir, 'disk-sparse.vmdk'), 'monolithicSparse');
    toVmdk(raw, join(tmp.dir, 'disk-stream.vmdk'), 'streamOptimized');
    qemuImg(['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, join(tmp.dir, 'disk.qcow2')]);
    // The oracle: qemu-img's own raw export of the streamOptimized image.
    qemuImg(['convert', '-q', '-O', 'raw', join(tmp.dir, 'disk-stream.vmdk'), join(tmp.dir, 'export.raw')]);
    const want = { md5: toolDigest('md5', join(tmp.dir, 'export.raw')), xxh3: toolDigest('xxh3', join(tmp.dir, 'export.raw')) };
    const images = ['disk.raw', 'disk-sparse.vmdk', 'disk-stream.vmdk', 'disk.qcow2'];
    const r = await runH2k(['hash', '--content', '--json', '-a', 'md5,xxh3', ...images], { cwd: tmp.dir });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { results: { file: string; bytes: number; bytesRead: number; digests: Record<string, string> }[] };
    expect(out.results).toHaveLength(4);
    for (const x of out.results) {
      expect(x.digests, x.file).toEqual(want);
      expect(x.bytes).toBe(24 * 1024 * 1024);
    }
    // The sparse VMDK's holes were hashed as zeros, not read.
    expect(out.results[1].bytesRead).toBeLessThan(out.results[1].bytes);
    // File hashes differ (different containers), content hashes don't.
    const plain = await runH2k(['hash', ...images], { cwd: tmp.dir });
    expect(new Set(plain.stdout.trim().split('\n').map((l) => l.split(' ')[0])).size).toBe(4);
  });
});
