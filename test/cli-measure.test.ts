// `h2k measure` against `qemu-img measure` on the same images, and real conversions against it:
// qcow2 required/fully-allocated must equal qemu-img's; every output must fit in `required`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, openSync, statSync, writeSync, ftruncateSync, fsyncSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { runH2k } from './helpers/cli.js';
import { makeSeededRaw, qemuImg, tempDir, toVmdk } from './helpers/fixtures.js';
import { seededBytes } from './helpers/seeded-bytes.js';

const tmp = tempDir('cli-measure');
const sparseRaw = join(tmp.dir, 'sparse.raw');
const sparseVmdk = join(tmp.dir, 'sparse.vmdk');
const holesQcow2 = join(tmp.dir, 'holes.qcow2');
const seeded = join(tmp.dir, 'seeded.raw');
const MiB = 1024 * 1024;

beforeAll(() => {
  // 48 MiB + 3 sectors with data runs at unaligned places, holes between them.
  const fd = openSync(sparseRaw, 'w');
  ftruncateSync(fd, 48 * MiB + 1536);
  for (const [off, len, seed] of [[0, 4096, 1], [100000, 70000, 2], [5 * MiB + 512, 1000, 3], [33 * MiB, 2 * MiB, 4], [48 * MiB + 1024, 512, 5]])
    writeSync(fd, seededBytes(len, seed), 0, len, off);
  fsyncSync(fd);
  closeSync(fd);
  toVmdk(sparseRaw, sparseVmdk, 'monolithicSparse');
  // qcow2 with holes, a zero cluster (write -z) and a cluster of explicit zero bytes.
  qemuImg(['create', '-q', '-f', 'qcow2', holesQcow2, '100M']);
  execFileSync('qemu-io', ['-f', 'qcow2', ...['write -P 1 0 64k', 'write -P 2 1M 3k', 'write -z 2M 1M', 'write -P 3 50M 5M', 'write -P 0 90M 64k'].flatMap((c) => ['-c', c]), holesQcow2], { stdio: 'ignore' });
  makeSeededRaw(seeded, 24); // text, random, explicit zeros and holes in stripes
}, 60_000);
afterAll(() => tmp.cleanup());

async function h2kMeasure(args: string[]): Promise<{ required: number; 'fully-allocated': number }> {
  const r = await runH2k(['measure', '--output=json', ...args]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

function qemuMeasure(args: string[]): { required: number; 'fully-allocated': number } {
  return JSON.parse(qemuImg(['measure', '--output=json', ...args]));
}

describe('h2k measure', () => {
  const images = () => [sparseRaw, sparseVmdk, holesQcow2, seeded];
  for (const cluster of [512, 4096, 65536, 2 * MiB]) {
    it(`qcow2 cluster ${cluster}: equals qemu-img measure, and the conversion fits`, async () => {
      for (const img of images()) {
        const h = await h2kMeasure(['-O', 'qcow2', '--cluster-size', String(cluster), img]);
        const q = qemuMeasure(['-O', 'qcow2', '-o', `cluster_size=${cluster}`, img]);
        expect({ img, ...h }).toEqual({ img, required: q.required, 'fully-allocated': q['fully-allocated'] });
        const out = join(tmp.dir, `out-${cluster}.qcow2`);
        const c = await runH2k(['convert', img, '-o', out, '--force', '--cluster-size', String(cluster), '--no-progress']);
        expect(c.code).toBe(0);
        expect(statSync(out).size).toBeLessThanOrEqual(h.required);
      }
    }, 120_000);
  }

  it('compressed qcow2: required is the uncompressed figure, said to be an upper bound', async () => {
    const r = await runH2k(['measure', '-c', 'zstd', sparseVmdk]);
    expect(r.code).toBe(0);
    const q = qemuMeasure(['-O', 'qcow2', sparseVmdk]);
    expect(r.stdout).toContain(`required size: ${q.required}\nfully allocated size: ${q['fully-allocated']}\n`);
    expect(r.stdout).toMatch(/upper bound/);
    const j = await h2kMeasure(['-c', sparseVmdk]);
    expect((j as Record<string, unknown>)['upper-bound']).toBe(true);
  });

  for (const format of ['raw', 'vdi', 'vmdk']) {
    it(`-O ${format}: the conversion's blocks fit in required`, async () => {
      for (const img of images()) {
        const h = await h2kMeasure(['-O', format, img]);
        const out = join(tmp.dir, `out.${format}`);
        const c = await runH2k(['convert', img, '-O', format, '-o', out, '--force', '--no-progress']);
        expect(c.code).toBe(0);
        const st = statSync(out);
        // raw is sparse: what it takes is its blocks, not its length (the virtual size).
        const used = format === 'raw' ? st.blocks * 512 : st.size;
        expect(used).toBeLessThanOrEqual(h.required);
        expect(h['fully-allocated']).toBeGreaterThanOrEqual(h.required);
      }
    }, 120_000);
  }

  it('prints qemu-img\'s two lines; refuses an unknown output format with exit 2', async () => {
    const r = await runH2k(['measure', sparseRaw]);
    expect(r.stdout).toMatch(/^required size: \d+\nfully allocated size: \d+\n$/);
    const bad = await runH2k(['measure', '-O', 'vhdx', sparseRaw]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('-O vhdx');
  });
});
