// Which files form one image (descriptor + extents), and when a file counts as complete.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { classifyFile, looksLikeExtentName, sourceFormatFor } from '../src/daemon/image-files.js';
import { StabilityTracker, type FileSnapshot } from '../src/daemon/file-stability.js';
import { makeSeededRaw, tempDir, toVmdk } from './helpers/fixtures.js';

const tmp = tempDir('daemon-files');
let raw: string;
beforeAll(() => {
  raw = makeSeededRaw(join(tmp.dir, 'base.raw'), 4, 1);
  for (const sf of ['monolithicSparse', 'streamOptimized', 'monolithicFlat', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat'])
    toVmdk(raw, join(tmp.dir, `${sf}.vmdk`), sf);
});
afterAll(() => tmp.cleanup());

describe('classifyFile', () => {
  it('monolithic and stream-optimized VMDKs are images of their own', async () => {
    expect(await classifyFile(join(tmp.dir, 'monolithicSparse.vmdk'))).toEqual({ kind: 'single' });
    expect(await classifyFile(join(tmp.dir, 'streamOptimized.vmdk'))).toEqual({ kind: 'single' });
    expect(await classifyFile(raw)).toEqual({ kind: 'single' });
  });

  it('descriptors list their extents; the extents are only parts', async () => {
    expect(await classifyFile(join(tmp.dir, 'monolithicFlat.vmdk'))).toEqual({
      kind: 'descriptor', extents: ['monolithicFlat-flat.vmdk'], unsafeExtents: [],
    });
    expect(await classifyFile(join(tmp.dir, 'twoGbMaxExtentSparse.vmdk'))).toEqual({
      kind: 'descriptor', extents: ['twoGbMaxExtentSparse-s001.vmdk'], unsafeExtents: [],
    });
    expect(await classifyFile(join(tmp.dir, 'twoGbMaxExtentSparse-s001.vmdk'))).toEqual({ kind: 'extent' });
    // Flat extents carry no header: the watcher lets them wait for a descriptor by their name.
    expect(await classifyFile(join(tmp.dir, 'monolithicFlat-flat.vmdk'))).toEqual({ kind: 'headerless', size: 4 << 20 });
    expect(await classifyFile(join(tmp.dir, 'twoGbMaxExtentFlat-f001.vmdk'))).toEqual({ kind: 'headerless', size: 4 << 20 });
    expect(looksLikeExtentName('/w/a-flat.vmdk') && looksLikeExtentName('/w/a-s001.vmdk') && looksLikeExtentName('/w/a-f012.VMDK')).toBe(true);
    expect(looksLikeExtentName('/w/a-000001-delta.vmdk') && looksLikeExtentName('/w/a-000001-sesparse.vmdk')).toBe(true);
    expect(looksLikeExtentName('/w/a.vmdk') || looksLikeExtentName('/w/flat.vmdk') || looksLikeExtentName('/w/a-s1.vmdk')).toBe(false);
  });

  it('damaged headers are jobs (so they fail into .errors/); junk has no header (the watcher refuses it by name)', async () => {
    const bad = Buffer.alloc(4096, 0x5a);
    bad.write('KDMV', 0, 'latin1');
    writeFileSync(join(tmp.dir, 'bad.vmdk'), bad);
    expect(await classifyFile(join(tmp.dir, 'bad.vmdk'))).toEqual({ kind: 'single' });
    writeFileSync(join(tmp.dir, 'junk.vmdk'), 'garbage\n');
    expect(await classifyFile(join(tmp.dir, 'junk.vmdk'))).toEqual({ kind: 'headerless', size: 8 });
    const whole = readFileSync(join(tmp.dir, 'monolithicSparse.vmdk'));
    writeFileSync(join(tmp.dir, 'cut.vmdk'), whole.subarray(0, 100));
    expect(await classifyFile(join(tmp.dir, 'cut.vmdk'))).toEqual({ kind: 'single' });
  });

  it('reads extent lines natively, skips ZERO extents and flags names with directories', async () => {
    const text = [
      '# Disk DescriptorFile', 'version=1', 'createType="twoGbMaxExtentSparse"',
      'RW 4192256 SPARSE "d-s001.vmdk"', 'RW 4192256 SPARSE "d-s002.vmdk"', 'RW 1000 ZERO',
      'RDONLY 8 FLAT "../etc/passwd" 0', 'RW 8 FLAT "/abs/x.vmdk" 0', 'RW 4192256 SPARSE "d-s001.vmdk"',
    ].join('\n');
    writeFileSync(join(tmp.dir, 'd.vmdk'), text);
    expect(await classifyFile(join(tmp.dir, 'd.vmdk'))).toEqual({
      kind: 'descriptor', extents: ['d-s001.vmdk', 'd-s002.vmdk'], unsafeExtents: ['../etc/passwd', '/abs/x.vmdk'],
    });
    // a descriptor the reader refuses is a job of its own: it fails with the reader's code
    writeFileSync(join(tmp.dir, 'damaged.vmdk'), text.replace('RW 1000 ZERO', 'RW many ZERO'));
    expect(await classifyFile(join(tmp.dir, 'damaged.vmdk'))).toEqual({ kind: 'single' });
  });

  it('the extension decides the source format, raw-ish names are detected', () => {
    expect(sourceFormatFor('/x/a.VMDK')).toBe('vmdk');
    expect(sourceFormatFor('/x/a.vhdx')).toBe('vhdx');
    expect(sourceFormatFor('/x/a.img')).toBe('');
  });
});

describe('StabilityTracker', () => {
  it('reports growth and declares a file stable only after stableMs without change', async () => {
    let now = 0;
    const sizes: FileSnapshot[] = [{ size: 1, mtimeMs: 1 }, { size: 2, mtimeMs: 2 }, { size: 3, mtimeMs: 3 }];
    let i = 0;
    const growing: number[] = [];
    const stable: number[] = [];
    const t = new StabilityTracker({
      stableMs: 1000,
      pollMs: 100,
      now: () => now,
      stat: async () => sizes[Math.min(i, sizes.length - 1)],
      onGrowing: (_p, size) => growing.push(size),
      onStable: (_p, size) => stable.push(size),
    });
    t.add('/f');
    for (; i < 3; i++) {
      await t.poll();
      now += 500;
    }
    expect(growing).toEqual([2, 3]);
    expect(stable).toEqual([]);
    await t.poll(); // t=1500, last change at 1000
    expect(stable).toEqual([]);
    now = 2000;
    await t.poll();
    expect(stable).toEqual([3]);
    expect(t.has('/f')).toBe(false);
  });

  it('forgets files that disappear', async () => {
    const gone: string[] = [];
    const t = new StabilityTracker({ stableMs: 10, pollMs: 10, stat: async () => undefined, onGrowing() {}, onStable() {}, onGone: (p) => gone.push(p) });
    t.add('/x');
    await t.poll();
    expect(gone).toEqual(['/x']);
  });
});
