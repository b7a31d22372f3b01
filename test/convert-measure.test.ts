// The arithmetic of `h2k measure` on synthetic allocation maps (no image, no qemu-img).
import { describe, expect, it } from 'vitest';
import { allocatedAt, extentTreeAllowance, measureMap, qcow2FullyAllocated } from '../src/convert/measure.js';
import type { NativeImageMap, NativeMapRun } from '../src/native/addon.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const map = (virtualSize: number, runs: NativeMapRun[]): NativeImageMap => ({ virtualSize, runs });

describe('measure arithmetic', () => {
  it('counts each granule data touches once, holes and zero runs not at all', () => {
    const m = map(MiB, [
      { offset: 0, length: 4 * KiB, kind: 'data' },
      { offset: 4 * KiB, length: 4 * KiB, kind: 'zero' },
      { offset: 8 * KiB, length: 4 * KiB, kind: 'data' }, // same 64 KiB cluster as the first run
      { offset: 12 * KiB, length: 500 * KiB, kind: 'hole' },
      { offset: 512 * KiB, length: 512 * KiB, kind: 'zero' },
    ]);
    expect(allocatedAt(m, 64 * KiB)).toBe(64 * KiB);
    expect(allocatedAt(m, 4 * KiB)).toBe(8 * KiB);
  });

  it('qcow2 fully allocated is qemu 7.2\'s figure (2 TiB at 64 KiB: 2199359062016, as qemu-img measure prints)', () => {
    expect(qcow2FullyAllocated(2 * 1024 * 1024 * MiB, 64 * KiB)).toBe(2199359062016);
    // An empty 2 TiB disk needs the fully allocated image's metadata only: required = fully - data.
    const empty = measureMap(map(2 * 1024 * 1024 * MiB, [{ offset: 0, length: 2 * 1024 * 1024 * MiB, kind: 'hole' }]), { outputFormat: 'qcow2', compression: 'none' });
    expect(empty.required).toBe(2199359062016 - 2 * 1024 * 1024 * MiB);
  });

  it('raw adds an ext4 extent-tree block only past the 4 extents an inode holds', () => {
    const runs = (n: number): NativeMapRun[] =>
      Array.from({ length: n }, (_, i) => [
        { offset: i * 2 * MiB, length: MiB, kind: 'data' as const },
        { offset: i * 2 * MiB + MiB, length: MiB, kind: 'hole' as const },
      ]).flat();
    expect(extentTreeAllowance(map(8 * MiB, runs(4)))).toBe(0);
    expect(extentTreeAllowance(map(10 * MiB, runs(5)))).toBe(4 * KiB);
    expect(measureMap(map(10 * MiB, runs(5)), { outputFormat: 'raw', compression: 'none' }).required).toBe(5 * MiB + 4 * KiB);
  });

  it('compressed qcow2 and streamOptimized vmdk are upper bounds; vdi counts whole 1 MiB blocks', () => {
    const m = map(4 * MiB, [{ offset: 0, length: 512, kind: 'data' }, { offset: 512, length: 4 * MiB - 512, kind: 'hole' }]);
    expect(measureMap(m, { outputFormat: 'qcow2', compression: 'zstd' }).upperBound).toBe(true);
    expect(measureMap(m, { outputFormat: 'qcow2', compression: 'none' }).upperBound).toBe(false);
    expect(measureMap(m, { outputFormat: 'vmdk', compression: 'none' }).upperBound).toBe(true);
    // map at 1 MiB (4 entries, 16 bytes) -> data at 2 MiB, plus one block.
    expect(measureMap(m, { outputFormat: 'vdi', compression: 'none' }).required).toBe(2 * MiB + MiB);
  });
});
