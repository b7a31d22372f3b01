// Conversions in pool worker threads run the addon's synchronous entry on the worker's own thread:
// progress and cancel through shared memory, a native error arrives as one coded H2kError. The
// worker is the built one (dist/pool/worker.js), as the daemon runs it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runTasksInline } from '../dist/pool/placement.js';
import { configurePool, destroyPool } from '../dist/pool/pool.js';
import { convertImage } from '../dist/convert/convert-image.js';
import type { ConvertProgress } from '../src/convert/types.js';
import { compareImages, expectCleanCheck, makeSeededRaw, tempDir, toVmdk } from './helpers/fixtures.js';

const tmp = tempDir('pool-worker');
let vmdk = '';
beforeAll(() => {
  runTasksInline(false);
  configurePool(2);
  vmdk = toVmdk(makeSeededRaw(join(tmp.dir, 'disk.raw'), 64), join(tmp.dir, 'disk.vmdk'), 'monolithicSparse');
});
afterAll(async () => {
  await destroyPool();
  tmp.cleanup();
});

describe('conversions in pool workers', () => {
  it('convert on the worker thread, progress read from shared memory, --verify included', async () => {
    const seen: ConvertProgress[] = [];
    const out = join(tmp.dir, 'out.qcow2');
    const r = await convertImage({ source: vmdk, output: out, verify: true, hashAlgorithms: ['md5'] }, { onProgress: (p) => seen.push(p) });
    expect(r.verified).toBe(true);
    expect(r.virtualSize).toBe(64 * 1024 * 1024);
    expectCleanCheck(out);
    expect(compareImages(vmdk, out, 'vmdk', 'qcow2').code).toBe(0);
    expect(seen.length).toBeGreaterThan(0);
    const last = seen[seen.length - 1];
    expect(last.bytesTotal).toBe(64 * 1024 * 1024);
    expect(last.bytesDone).toBe(last.bytesTotal);
  });

  it('two conversions at once in two workers', async () => {
    const outs = ['a.raw', 'b.raw'].map((n) => join(tmp.dir, n));
    const results = await Promise.all(outs.map((output) => convertImage({ source: vmdk, output, outputFormat: 'raw' })));
    for (const [i, r] of results.entries()) expect(compareImages(vmdk, outs[i], 'vmdk', 'raw').code).toBe(0), expect(r.outputFormat).toBe('raw');
  });

  it('a native error arrives with its code, file and hint', async () => {
    const err = await convertImage({ source: join(tmp.dir, 'disk.raw'), output: join(tmp.dir, 'x.qcow2'), sourceFormat: 'vmdk' }).catch((e) => e);
    expect(err.name).toBe('H2kError');
    expect(err.code).toMatch(/^E_VMDK/);
    expect(err.code).not.toBe('E_WORKER');
    expect(typeof err.message).toBe('string');
  });

  it('abort raises the shared cancel flag: E_CANCELLED, no output and no .partial', async () => {
    const big = makeSeededRaw(join(tmp.dir, 'big.raw'), 256, 7);
    const out = join(tmp.dir, 'cancel.qcow2');
    const ac = new AbortController();
    const err = await convertImage(
      { source: big, output: out, compression: 'zlib', threads: 1 },
      { signal: ac.signal, onProgress: () => ac.abort() },
    ).catch((e) => e);
    expect(err.code).toBe('E_CANCELLED');
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp.dir).filter((n) => n.endsWith('.partial'))).toEqual([]);
  });
});
