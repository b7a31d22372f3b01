// Writes ESX snapshot deltas that qemu-img cannot create: a COWD (vmfsSparse) delta and a
// SESparse (seSparse) delta, each with its text descriptor pointing at a parent. Layouts per
// formats.md §1.6 and qemu's block/vmdk.c reader; qemu-img reads both, so it is the oracle.
// Options for malformed variants let tests damage one field at a time.
import { closeSync, ftruncateSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { basename } from 'node:path';

const SECTOR = 512;

/** Content of one grain of a delta. Data buffers are one grain long (shorter only for the last grain). */
export type GrainEntry = { kind: 'data'; data: Buffer } | { kind: 'zero' } | { kind: 'unmapped' };

export interface DeltaDescriptor {
  /** Descriptor path; the extent file name inside it is relative to its directory. */
  path: string;
  createType: 'vmfsSparse' | 'seSparse';
  extentType: 'VMFSSPARSE' | 'SESPARSE';
  extentFile: string;
  sectors: number;
  cid: string;
  parentCid: string;
  parentHint: string;
}

/** The CID of a VMDK (text descriptor or monolithicSparse with an embedded one). */
export function vmdkCid(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(64 * 1024);
    const n = readSync(fd, head, 0, head.length, 0);
    const m = /^CID=([0-9a-fA-F]+)/m.exec(head.subarray(0, n).toString('latin1'));
    if (!m) throw new Error(`no CID line in ${path}`);
    return m[1];
  } finally {
    closeSync(fd);
  }
}

export function writeDeltaDescriptor(d: DeltaDescriptor): void {
  const text = [
    '# Disk DescriptorFile',
    'version=1',
    'encoding="UTF-8"',
    `CID=${d.cid}`,
    `parentCID=${d.parentCid}`,
    'isNativeSnapshot="no"',
    `createType="${d.createType}"`,
    `parentFileNameHint="${d.parentHint}"`,
    '',
    '# Extent description',
    `RW ${d.sectors} ${d.extentType} "${d.extentFile}"`,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    'ddb.longContentID = "00000000000000000000000000000000"',
    '',
  ].join('\n');
  writeFileSync(d.path, text);
}

function writeAt(fd: number, buf: Buffer, offset: number): void {
  writeSync(fd, buf, 0, buf.length, offset);
}

export interface CowdOptions {
  capacitySectors: number;
  grainSectors: number;
  /** grain index -> data ('data' only: COWD has no zero grains). */
  grains: Map<number, Buffer>;
  /** Store the grains in reverse guest order (legal: readers follow the GT). */
  reverseGrainOrder?: boolean;
  parentFileName?: string;
  /** Negative tests: override header fields after the layout is computed. */
  damage?: { magic?: string; gdEntries?: number; capacity?: number; firstGtSector?: number; firstGrainSector?: number; truncateTo?: number };
}

/**
 * COWD: 2048-byte header (magic, version 1, flags 3, capacity, grain, GD sector 4, GD entries,
 * next free sector, parent name at 32), the GD right after it, then one 4096-entry GT per
 * table that has grains, then the grains. The last grain is written only up to the capacity.
 */
export function writeCowdDelta(path: string, o: CowdOptions): void {
  const gtSpan = o.grainSectors * 4096;
  const gdEntries = Math.ceil(o.capacitySectors / gtSpan);
  const gdSectors = Math.ceil((gdEntries * 4) / SECTOR);
  const tables = [...new Set([...o.grains.keys()].map((g) => Math.floor(g / 4096)))].sort((a, b) => a - b);
  let next = 4 + gdSectors;
  const gtSector = new Map<number, number>();
  for (const t of tables) {
    gtSector.set(t, next);
    next += 32; // 4096 x u32
  }
  const order = [...o.grains.keys()].sort((a, b) => (o.reverseGrainOrder ? b - a : a - b));
  const grainSector = new Map<number, number>();
  for (const g of order) {
    grainSector.set(g, next);
    next += o.grainSectors;
  }
  const header = Buffer.alloc(2048);
  header.write(o.damage?.magic ?? 'COWD', 0, 'latin1');
  header.writeUInt32LE(1, 4);
  header.writeUInt32LE(3, 8);
  header.writeUInt32LE(o.damage?.capacity ?? o.capacitySectors, 12);
  header.writeUInt32LE(o.grainSectors, 16);
  header.writeUInt32LE(4, 20);
  header.writeUInt32LE(o.damage?.gdEntries ?? gdEntries, 24);
  header.writeUInt32LE(next, 28);
  if (o.parentFileName) header.write(o.parentFileName.slice(0, 1023), 32, 'latin1');
  header.writeUInt32LE(1, 1060); // generation
  header.write(basename(path).slice(0, 59), 1064, 'latin1');

  const gd = Buffer.alloc(gdSectors * SECTOR);
  for (const [t, s] of gtSector) gd.writeUInt32LE(t === tables[0] && o.damage?.firstGtSector !== undefined ? o.damage.firstGtSector : s, t * 4);
  const fd = openSync(path, 'w');
  try {
    writeAt(fd, header, 0);
    writeAt(fd, gd, 4 * SECTOR);
    let first = true;
    for (const t of tables) {
      const gt = Buffer.alloc(4096 * 4);
      for (const [g, s] of grainSector) {
        if (Math.floor(g / 4096) !== t) continue;
        const damaged = first && g === order[0] && o.damage?.firstGrainSector !== undefined;
        gt.writeUInt32LE(damaged ? (o.damage?.firstGrainSector ?? 0) : s, (g % 4096) * 4);
      }
      first = false;
      writeAt(fd, gt, (gtSector.get(t) ?? 0) * SECTOR);
    }
    let end = (4 + gdSectors) * SECTOR;
    for (const [g, s] of grainSector) {
      const visible = Math.min(o.grainSectors, o.capacitySectors - g * o.grainSectors) * SECTOR;
      const data = o.grains.get(g) ?? Buffer.alloc(0);
      writeAt(fd, data.subarray(0, visible), s * SECTOR);
      end = Math.max(end, s * SECTOR + visible);
    }
    ftruncateSync(fd, o.damage?.truncateTo ?? Math.max(end, (4 + gdSectors + tables.length * 32) * SECTOR));
  } finally {
    closeSync(fd);
  }
}

export interface SesparseOptions {
  capacitySectors: number;
  /** grain index (4 KiB grains) -> entry; absent grains are unallocated (read the parent). */
  grains: Map<number, GrainEntry>;
  /** Grain numbers in the grain area are assigned from here upwards (exercises the split encoding). */
  firstGrainNumber?: number;
  damage?: {
    magic?: bigint;
    replayJournal?: bigint;
    capacity?: bigint;
    gdEntry?: bigint;
    firstGrainNumber?: bigint;
    truncateTo?: number;
  };
}

const GRAIN_SECTORS = 8;
const GT_SECTORS = 64;
const GT_ENTRIES = 4096;

/** The GTE of an allocated grain: type 3, grain number bits 0-11 in 48-59 and 12-59 in 0-47. */
export function allocatedGte(grainNumber: bigint): bigint {
  return (3n << 60n) | ((grainNumber & 0xfffn) << 48n) | (grainNumber >> 12n);
}

/**
 * SESparse: const header (sector 0), volatile header (1), journal header and journal (2, 3),
 * GD (4...), grain tables (64 sectors each, only for tables with entries), grains (8 sectors each).
 */
export function writeSesparseDelta(path: string, o: SesparseOptions): void {
  const tableSpan = GRAIN_SECTORS * GT_ENTRIES;
  const gdEntries = Math.ceil(o.capacitySectors / tableSpan);
  const gdSectors = Math.ceil(gdEntries / 64);
  const tables = [...new Set([...o.grains.keys()].map((g) => Math.floor(g / GT_ENTRIES)))].sort((a, b) => a - b);
  const gdOffset = 4;
  const gtOffset = gdOffset + gdSectors;
  const gtSize = tables.length * GT_SECTORS;
  const grainsOffset = gtOffset + gtSize;
  const dataGrains = [...o.grains.entries()].filter(([, e]) => e.kind === 'data').map(([g]) => g).sort((a, b) => a - b);
  const base = o.firstGrainNumber ?? 0;
  const number = new Map<number, number>(dataGrains.map((g, i) => [g, base + i]));
  const grainsSize = (base + dataGrains.length) * GRAIN_SECTORS;

  const c = Buffer.alloc(SECTOR);
  const u64 = (v: bigint | number, at: number) => c.writeBigUInt64LE(BigInt(v), at);
  u64(o.damage?.magic ?? 0xcafebaben, 0);
  u64(0x0000000200000001n, 8);
  u64(o.damage?.capacity ?? BigInt(o.capacitySectors), 16);
  u64(GRAIN_SECTORS, 24);
  u64(GT_SECTORS, 32);
  u64(0, 40); // flags; 48..79 reserved
  u64(1, 80); // volatile header offset, size
  u64(1, 88);
  u64(2, 96); // journal header offset, size
  u64(1, 104);
  u64(3, 112); // journal offset, size
  u64(1, 120);
  u64(gdOffset, 128);
  u64(gdSectors, 136);
  u64(gtOffset, 144);
  u64(gtSize, 152);
  u64(0, 160); // free bitmap, backmap: not needed to read
  u64(0, 168);
  u64(0, 176);
  u64(0, 184);
  u64(grainsOffset, 192);
  u64(grainsSize, 200);

  const v = Buffer.alloc(SECTOR);
  v.writeBigUInt64LE(0xcafecafen, 0);
  v.writeBigUInt64LE(BigInt(tables.length), 8); // free GT number
  v.writeBigUInt64LE(1n, 16); // next transaction
  v.writeBigUInt64LE(o.damage?.replayJournal ?? 0n, 24);

  const gd = Buffer.alloc(gdSectors * SECTOR);
  tables.forEach((t, i) => gd.writeBigUInt64LE(i === 0 && o.damage?.gdEntry !== undefined ? o.damage.gdEntry : 0x1000000000000000n | BigInt(i), t * 8));

  const fd = openSync(path, 'w');
  try {
    writeAt(fd, c, 0);
    writeAt(fd, v, SECTOR);
    writeAt(fd, gd, gdOffset * SECTOR);
    tables.forEach((t, i) => {
      const gt = Buffer.alloc(GT_ENTRIES * 8);
      for (const [g, e] of o.grains) {
        if (Math.floor(g / GT_ENTRIES) !== t) continue;
        let gte: bigint;
        if (e.kind === 'zero') gte = 2n << 60n;
        else if (e.kind === 'unmapped') gte = 1n << 60n;
        else {
          const n = g === dataGrains[0] && o.damage?.firstGrainNumber !== undefined ? o.damage.firstGrainNumber : BigInt(number.get(g) ?? 0);
          gte = allocatedGte(n);
        }
        gt.writeBigUInt64LE(gte, (g % GT_ENTRIES) * 8);
      }
      writeAt(fd, gt, (gtOffset + i * GT_SECTORS) * SECTOR);
    });
    let end = grainsOffset * SECTOR;
    for (const g of dataGrains) {
      const e = o.grains.get(g);
      if (e?.kind !== 'data') continue;
      const visible = Math.min(GRAIN_SECTORS, o.capacitySectors - g * GRAIN_SECTORS) * SECTOR;
      const at = (grainsOffset + (number.get(g) ?? 0) * GRAIN_SECTORS) * SECTOR;
      writeAt(fd, e.data.subarray(0, visible), at);
      end = Math.max(end, at + visible);
    }
    ftruncateSync(fd, o.damage?.truncateTo ?? end);
  } finally {
    closeSync(fd);
  }
}

/** Copies `src` to `dst` with `bytes` written at `offset` (a one-field corruption). */
export function patchedCopy(src: string, dst: string, offset: number, bytes: Buffer): void {
  const b = readFileSync(src);
  bytes.copy(b, offset);
  writeFileSync(dst, b);
}
