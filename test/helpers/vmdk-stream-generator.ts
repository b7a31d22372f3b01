// Writes a "true" streamOptimized VMDK (the VMware/OVFTool layout qemu cannot produce):
// header with gdOffset = GD_AT_END, embedded descriptor, compressed grain records with
// markers, a GT marker + GT after each table's grains, GD marker + GD, footer marker +
// footer (the header with the real gdOffset), and an EOS marker. Layout per formats.md §1.5.
import { deflateSync } from 'node:zlib';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { basename } from 'node:path';

const SECTOR = 512;
const GD_AT_END = 0xffffffffffffffffn;
const MARKER_EOS = 0;
const MARKER_GT = 1;
const MARKER_GD = 2;
const MARKER_FOOTER = 3;

export interface StreamOptions {
  grainSectors?: number; // default 128 (64 KiB)
  gtEntries?: number; // default 512
  /** Write each table's grains in reverse guest order (legal; readers must follow the GT). */
  reverseGrainOrder?: boolean;
  /** Store this LBA in the first grain record instead of the right one (negative test). */
  wrongLbaInFirstGrain?: boolean;
  /** CRLF line ends in the embedded descriptor. */
  crlf?: boolean;
}

function header(capacity: bigint, grain: bigint, gtEntries: number, descSectors: number, overHead: number, gdOffset: bigint): Buffer {
  const h = Buffer.alloc(SECTOR);
  h.write('KDMV', 0, 'latin1');
  h.writeUInt32LE(3, 4); // version
  h.writeUInt32LE(0x30001, 8); // newline bytes valid, compressed, markers (OVFTool's flags)
  h.writeBigUInt64LE(capacity, 12);
  h.writeBigUInt64LE(grain, 20);
  h.writeBigUInt64LE(1n, 28); // descriptorOffset
  h.writeBigUInt64LE(BigInt(descSectors), 36);
  h.writeUInt32LE(gtEntries, 44);
  h.writeBigUInt64LE(0n, 48); // no redundant GD
  h.writeBigUInt64LE(gdOffset, 56);
  h.writeBigUInt64LE(BigInt(overHead), 64);
  h[72] = 0;
  h[73] = 0x0a;
  h[74] = 0x20;
  h[75] = 0x0d;
  h[76] = 0x0a;
  h.writeUInt16LE(1, 77); // DEFLATE
  return h;
}

function marker(val: number, type: number): Buffer {
  const m = Buffer.alloc(SECTOR);
  m.writeBigUInt64LE(BigInt(val), 0);
  m.writeUInt32LE(0, 8);
  m.writeUInt32LE(type, 12);
  return m;
}

function padToSector(b: Buffer): Buffer {
  const rem = b.length % SECTOR;
  return rem === 0 ? b : Buffer.concat([b, Buffer.alloc(SECTOR - rem)]);
}

/** Converts the raw file `rawPath` into a GD_AT_END stream at `outPath`. Returns grains written. */
export function writeStreamVmdk(rawPath: string, outPath: string, rawSize: number, options: StreamOptions = {}): number {
  const grainSectors = options.grainSectors ?? 128;
  const gtEntries = options.gtEntries ?? 512;
  const grainBytes = grainSectors * SECTOR;
  const capacity = Math.ceil(rawSize / SECTOR);
  const nl = options.crlf ? '\r\n' : '\n';
  const descText = [
    '# Disk DescriptorFile',
    'version=1',
    'CID=1a2b3c4d',
    'parentCID=ffffffff',
    'createType="streamOptimized"',
    '',
    '# Extent description',
    `RDONLY ${capacity} SPARSE "${basename(outPath)}"`,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    'ddb.virtualHWVersion = "14"',
    'ddb.adapterType = "lsilogic"',
    `ddb.geometry.cylinders = "${Math.max(1, Math.floor(capacity / (255 * 63)))}"`,
    'ddb.geometry.heads = "255"',
    'ddb.geometry.sectors = "63"',
    'ddb.uuid = "60 00 c2 9a 1b 2c 3d 4e-5f 60 71 82 93 a4 b5 c6"',
    'ddb.toolsVersion = "12345"',
    '',
  ].join(nl);
  const desc = padToSector(Buffer.from(descText, 'utf8'));
  const descSectors = desc.length / SECTOR;
  const overHead = 1 + descSectors;
  const gtCount = Math.ceil(capacity / (grainSectors * gtEntries));
  const gd = Buffer.alloc(Math.ceil((gtCount * 4) / SECTOR) * SECTOR);

  const src = openSync(rawPath, 'r');
  const out = openSync(outPath, 'w');
  let sector = 0;
  const emit = (b: Buffer): number => {
    const at = sector;
    writeSync(out, b, 0, b.length, at * SECTOR);
    sector += b.length / SECTOR;
    return at;
  };
  let grainsWritten = 0;
  let firstGrain = true;
  try {
    emit(header(BigInt(capacity), BigInt(grainSectors), gtEntries, descSectors, overHead, GD_AT_END));
    emit(desc);
    const buf = Buffer.alloc(grainBytes);
    for (let t = 0; t < gtCount; t++) {
      const gt = Buffer.alloc(gtEntries * 4);
      const order: number[] = [];
      for (let i = 0; i < gtEntries; i++) order.push(i);
      if (options.reverseGrainOrder) order.reverse();
      let used = false;
      for (const i of order) {
        const grainIndex = t * gtEntries + i;
        const start = grainIndex * grainBytes;
        if (start >= rawSize) continue;
        const n = Math.min(grainBytes, rawSize - start);
        buf.fill(0);
        readSync(src, buf, 0, n, start);
        const plain = buf.subarray(0, n);
        if (!plain.some((b) => b !== 0)) continue; // empty grains are not written
        const packed = deflateSync(plain); // zlib-wrapped, as VMware and qemu write it
        const rec = Buffer.alloc(12);
        const lba = BigInt(grainIndex * grainSectors) + (firstGrain && options.wrongLbaInFirstGrain ? 128n : 0n);
        rec.writeBigUInt64LE(lba, 0);
        rec.writeUInt32LE(packed.length, 8);
        gt.writeUInt32LE(emit(padToSector(Buffer.concat([rec, packed]))), i * 4);
        firstGrain = false;
        used = true;
        grainsWritten++;
      }
      if (!used) continue; // a table of empty grains is not written; its GD entry stays 0
      emit(marker(gt.length / SECTOR, MARKER_GT));
      gd.writeUInt32LE(emit(padToSector(gt)), t * 4);
    }
    emit(marker(gd.length / SECTOR, MARKER_GD));
    const gdSector = emit(gd);
    emit(marker(1, MARKER_FOOTER));
    emit(header(BigInt(capacity), BigInt(grainSectors), gtEntries, descSectors, overHead, BigInt(gdSector)));
    emit(marker(0, MARKER_EOS));
  } finally {
    closeSync(src);
    closeSync(out);
  }
  return grainsWritten;
}
