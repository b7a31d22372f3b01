// End-to-end: `h2k convert` and `h2k info` through the real CLI, checked by qemu-img.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, writeFileSync, statSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { h2kBin, runH2k } from './helpers/cli.js';
import { compareImages, expectCleanCheck, makeSeededRaw, qemuInfo, tempDir, toVmdk } from './helpers/fixtures.js';

const tmp = tempDir('cli-convert');
const raw = join(tmp.dir, 'src.raw');
const SUBFORMATS = ['monolithicSparse', 'streamOptimized', 'monolithicFlat', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat'];

beforeAll(() => {
  // 37 MiB + 3 sectors: not a multiple of the grain or the cluster.
  makeSeededRaw(raw, 37 + 1536 / (1024 * 1024));
  for (const sf of SUBFORMATS) toVmdk(raw, join(tmp.dir, `${sf}.vmdk`), sf);
});
afterAll(() => tmp.cleanup());

describe('h2k convert', () => {
  for (const sf of SUBFORMATS) {
    it(`${sf} -> qcow2 is identical to the source and passes qemu-img check`, async () => {
      const out = join(tmp.dir, `${sf}.qcow2`);
      const r = await runH2k(['convert', join(tmp.dir, `${sf}.vmdk`), '-o', out, '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.errors).toEqual([]);
      expect(j.results[0].virtualSize).toBe(statSync(raw).size);
      expect(j.results[0].sourceFormat).toBe('vmdk');
      expect(j.results[0].sourceSubformat).toBe(sf);
      expect(j.results[0].outputBytes).toBe(statSync(out).size);
      expectCleanCheck(out);
      expect(compareImages(raw, out, 'raw', 'qcow2').code).toBe(0);
      expect(qemuInfo(out)['virtual-size']).toBe(statSync(raw).size);
    });
  }

  for (const algo of ['zlib', 'zstd']) {
    it(`compresses with ${algo} and qemu-img reads it back identical`, async () => {
      const out = join(tmp.dir, `c-${algo}.qcow2`);
      const r = await runH2k(['convert', join(tmp.dir, 'monolithicSparse.vmdk'), '-o', out, '-c', algo, '--threads', '2']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('virtual size');
      expectCleanCheck(out);
      expect(compareImages(raw, out, 'raw', 'qcow2').code).toBe(0);
      const info = qemuInfo(out);
      expect(info['format-specific']?.data?.['compression-type']).toBe(algo === 'zstd' ? 'zstd' : 'zlib');
      expect(statSync(out).size).toBeLessThan(statSync(raw).size);
    });
  }

  it('writes sparse raw output', async () => {
    const out = join(tmp.dir, 'out.raw');
    const r = await runH2k(['convert', join(tmp.dir, 'streamOptimized.vmdk'), '-O', 'raw', '-o', out]);
    expect(r.code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(raw))).toBe(true);
  });

  it('converts several sources in parallel into a directory', async () => {
    const outDir = join(tmp.dir, 'many');
    mkdirSync(outDir, { recursive: true });
    const srcs = ['monolithicSparse', 'streamOptimized', 'monolithicFlat'].map((s) => join(tmp.dir, `${s}.vmdk`));
    const r = await runH2k(['convert', ...srcs, '-o', outDir, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.results).toHaveLength(3);
    for (const s of ['monolithicSparse', 'streamOptimized', 'monolithicFlat'])
      expect(compareImages(raw, join(outDir, `${s}.qcow2`), 'raw', 'qcow2').code).toBe(0);
  });

  for (const fmt of ['qcow2', 'vdi', 'vmdk', 'raw']) {
    it(`--verify reads the ${fmt} output back with h2k's reader and reports it checked`, async () => {
      const out = join(tmp.dir, `verified.${fmt}`);
      const extra = fmt === 'qcow2' ? ['-c', 'zstd'] : [];
      const r = await runH2k(['convert', join(tmp.dir, 'streamOptimized.vmdk'), '-O', fmt, '-o', out, '--verify', '--json', ...extra]);
      expect(r.code, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout).results[0];
      expect(res.verified).toBe(true);
      expect(res.verifySeconds).toBeGreaterThan(0);
      expect(res.contentHashes).toEqual({}); // the check's own hash is not reported as a requested one
      // The source is 37 MiB + 3 sectors: VDI/VMDK round the size up, the tail must read as zeros.
      expect(compareImages(raw, out, 'raw', fmt).code).toBe(0);
    });
  }

  it('--verify: a mismatch fails with E_VERIFY_FAILED, exit 1, and removes the output', async () => {
    const out = join(tmp.dir, 'mismatch.qcow2');
    const r = await runH2k(['convert', join(tmp.dir, 'monolithicSparse.vmdk'), '-o', out, '--verify'], {
      env: { H2K_FAILPOINT: 'verify-mismatch' },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_VERIFY_FAILED/);
    expect(r.stderr).toMatch(/does not read back as the source/);
    expect(existsSync(out) || existsSync(out + '.partial')).toBe(false);
  });

  it('refuses to overwrite without --force (exit 4) and overwrites with it', async () => {
    const out = join(tmp.dir, 'exists.qcow2');
    writeFileSync(out, 'precious');
    const r = await runH2k(['convert', join(tmp.dir, 'monolithicSparse.vmdk'), '-o', out]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('E_OUTPUT_EXISTS');
    expect(readFileSync(out, 'utf8')).toBe('precious');
    const f = await runH2k(['convert', join(tmp.dir, 'monolithicSparse.vmdk'), '-o', out, '--force']);
    expect(f.code).toBe(0);
    expect(compareImages(raw, out, 'raw', 'qcow2').code).toBe(0);
  });

  it('rejects bad input with a code, exit 3, and leaves no output', async () => {
    const bad = join(tmp.dir, 'bad.vmdk');
    writeFileSync(bad, Buffer.concat([Buffer.from('KDMV'), Buffer.alloc(100, 0xff)]));
    const out = join(tmp.dir, 'bad.qcow2');
    const r = await runH2k(['convert', bad, '-o', out]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/h2k: error \[E_[A-Z_]+\]/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp.dir).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('reports usage errors with exit 2', async () => {
    const r = await runH2k(['convert', join(tmp.dir, 'monolithicSparse.vmdk'), '-O', 'qcow3', '-o', join(tmp.dir, 'x')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('E_INVALID_ARGUMENT');
  });

  it('Ctrl-C removes the partial output and exits 130', async () => {
    const big = join(tmp.dir, 'big.raw');
    makeSeededRaw(big, 768, 7);
    const out = join(tmp.dir, 'big.qcow2');
    const child = spawn(process.execPath, [h2kBin, 'convert', big, '-o', out, '-c', 'zlib', '--threads', '1'], { stdio: 'ignore' });
    const deadline = Date.now() + 60_000;
    while (!existsSync(out + '.partial') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(out + '.partial')).toBe(true);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    expect(code).toBe(130);
    expect(existsSync(out + '.partial')).toBe(false);
    expect(existsSync(out)).toBe(false);
  });
});

describe("qemu-img's habits", () => {
  const src = () => join(tmp.dir, 'monolithicSparse.vmdk');

  it('convert -O qcow2 in out: the last positional is the output when it does not exist yet', async () => {
    const out = join(tmp.dir, 'positional.qcow2');
    const r = await runH2k(['convert', '-O', 'qcow2', src(), out]);
    expect(r.code, r.stderr).toBe(0);
    expect(compareImages(raw, out, 'raw', 'qcow2').code).toBe(0);
  });

  it('-c takes no value: the word after it is the source, compressed with zlib', async () => {
    const out = join(tmp.dir, 'c-positional.qcow2');
    const r = await runH2k(['convert', '-c', src(), out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).results[0].compression).toBe('zlib');
    expect(compareImages(raw, out, 'raw', 'qcow2').code).toBe(0);
  });

  it('-o key=value are format options, never a file name; an unknown one is refused', async () => {
    const out = join(tmp.dir, 'opts.qcow2');
    const r = await runH2k(['convert', '-c', '-o', 'compression_type=zstd,cluster_size=128k', src(), out]);
    expect(r.code, r.stderr).toBe(0);
    const info = qemuInfo(out);
    expect(info['format-specific']?.data?.['compression-type']).toBe('zstd');
    expect((info as unknown as { 'cluster-size': number })['cluster-size']).toBe(131072);
    expect(compareImages(raw, out, 'raw', 'qcow2').code).toBe(0);
    const bad = await runH2k(['convert', src(), '-o', 'lazy_refcounts=on', join(tmp.dir, 'bad-opts.qcow2')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown format option 'lazy_refcounts'");
    expect(existsSync(join(tmp.dir, 'lazy_refcounts=on'))).toBe(false);
  });

  it('info --output=json is --json', async () => {
    const r = await runH2k(['info', src(), '--output=json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).format).toBe('vmdk');
    expect(existsSync(join(process.cwd(), 'json'))).toBe(false);
  });
});

describe('h2k info', () => {
  for (const sf of SUBFORMATS) {
    it(`${sf}: agrees with qemu-img info on virtual size and format`, async () => {
      const img = join(tmp.dir, `${sf}.vmdk`);
      const r = await runH2k(['info', img, '--json']);
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout);
      const q = qemuInfo(img);
      expect(j.format).toBe(q.format);
      expect(j.virtualSize).toBe(q['virtual-size']);
      expect(j.subformat).toBe(sf);
      expect(j.extents.length).toBeGreaterThan(0);
      expect(j.files[0]).toBe(img);
    });
  }

  it('prints a human summary', async () => {
    const r = await runH2k(['info', join(tmp.dir, 'monolithicSparse.vmdk')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/format:\s+vmdk \(monolithicSparse\)/);
    expect(r.stdout).toMatch(/adapter type:/);
  });
});
