// Fixtures for the VHD/VHDX/VDI/qcow2/OVA tests: a differencing-VHD generator (qemu cannot
// write one), CRC-32C for patching VHDX headers, and a ustar writer for OVA archives with
// an OVF and a manifest, so archives are built at test time with exact control.
import { closeSync, openSync, readFileSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename } from 'node:path';

export function crc32c(buf: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of buf) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function readRange(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

function writeRange(path: string, offset: number, data: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, data, 0, data.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Sets a VHDX header's LogGuid (both copies) and fixes their CRC-32C: a "dirty log" disk. */
export function markVhdxLogDirty(path: string): void {
  for (const at of [64 * 1024, 128 * 1024]) {
    const h = readRange(path, at, 4096);
    Buffer.from('0123456789abcdef').copy(h, 48);
    h.writeUInt32LE(0, 4);
    h.writeUInt32LE(crc32c(h), 4);
    writeRange(path, at, h);
  }
}

function vhdChecksum(buf: Buffer, at: number): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i++) if (i < at || i >= at + 4) sum = (sum + buf[i]) >>> 0;
  return ~sum >>> 0;
}

export interface DiffWrite {
  offset: number; // sector aligned
  data: Buffer; // whole sectors
}

/**
 * A differencing VHD over `parentPath` (a dynamic VHD written by qemu) whose blocks hold
 * `writes`; bits of the sector bitmap are set only for the written sectors, so every other
 * sector must be read from the parent. The locator is W2ru ".\<parent name>".
 */
export function writeDiffVhd(childPath: string, parentPath: string, writes: DiffWrite[], opts: { parentUuid?: Buffer } = {}): void {
  const size = statSync(parentPath).size;
  const parentFooter = readRange(parentPath, size - 512, 512);
  const footer = Buffer.from(parentFooter);
  footer.writeUInt32BE(4, 60); // differencing
  Buffer.from('0f1e2d3c4b5a69788796a5b4c3d2e1f0', 'hex').copy(footer, 68);
  const dataOffset = 512;
  footer.writeBigUInt64BE(BigInt(dataOffset), 16);
  const virtualSize = Number(parentFooter.readBigUInt64BE(48));
  const blockSize = 2 * 1024 * 1024;
  const entries = Math.ceil(virtualSize / blockSize);
  const batOffset = dataOffset + 1024;
  const batBytes = Math.ceil((entries * 4) / 512) * 512;
  const locatorOffset = batOffset + batBytes;
  const locator = Buffer.from('.\\' + basename(parentPath), 'utf16le');
  const locatorSpace = 512;
  let next = locatorOffset + locatorSpace;
  const bat = Buffer.alloc(batBytes, 0xff);
  const blocks = new Map<number, { at: number; bitmap: Buffer; data: Buffer }>();
  for (const w of writes) {
    for (let s = 0; s < w.data.length / 512; s++) {
      const off = w.offset + s * 512;
      const b = Math.floor(off / blockSize);
      let blk = blocks.get(b);
      if (!blk) {
        blk = { at: next, bitmap: Buffer.alloc(512), data: Buffer.alloc(blockSize) };
        blocks.set(b, blk);
        bat.writeUInt32BE(next / 512, b * 4);
        next += 512 + blockSize;
      }
      const sec = (off % blockSize) / 512;
      blk.bitmap[sec >> 3] |= 0x80 >> (sec & 7);
      w.data.copy(blk.data, sec * 512, s * 512, s * 512 + 512);
    }
  }
  const hdr = Buffer.alloc(1024);
  hdr.write('cxsparse', 0, 'latin1');
  hdr.writeBigUInt64BE(0xffffffffffffffffn, 8);
  hdr.writeBigUInt64BE(BigInt(batOffset), 16);
  hdr.writeUInt32BE(0x00010000, 24);
  hdr.writeUInt32BE(entries, 28);
  hdr.writeUInt32BE(blockSize, 32);
  (opts.parentUuid ?? parentFooter.subarray(68, 84)).copy(hdr, 40);
  Buffer.from(basename(parentPath), 'utf16le').swap16().copy(hdr, 64);
  hdr.write('W2ru', 576, 'latin1');
  hdr.writeUInt32BE(locatorSpace, 580);
  hdr.writeUInt32BE(locator.length, 584);
  hdr.writeBigUInt64BE(BigInt(locatorOffset), 592);
  hdr.writeUInt32BE(vhdChecksum(hdr, 36), 36);
  footer.writeUInt32BE(vhdChecksum(footer, 64), 64);
  const fd = openSync(childPath, 'w');
  try {
    writeSync(fd, footer, 0, 512, 0);
    writeSync(fd, hdr, 0, 1024, dataOffset);
    writeSync(fd, bat, 0, bat.length, batOffset);
    writeSync(fd, locator, 0, locator.length, locatorOffset);
    for (const blk of blocks.values()) {
      writeSync(fd, blk.bitmap, 0, 512, blk.at);
      writeSync(fd, blk.data, 0, blockSize, blk.at + 512);
    }
    writeSync(fd, footer, 0, 512, next);
  } finally {
    closeSync(fd);
  }
}

export interface TarEntry {
  name: string;
  path?: string; // file to copy in
  data?: Buffer; // or literal bytes
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

/** A POSIX ustar archive, members in the given order (the OVA layout: .ovf first). */
export function writeTar(out: string, entries: TarEntry[]): void {
  const fd = openSync(out, 'w');
  let pos = 0;
  try {
    for (const e of entries) {
      const data = e.data ?? readFileSync(e.path!);
      const h = Buffer.alloc(512);
      h.write(e.name, 0, 100, 'utf8');
      h.write(octal(0o644, 8), 100, 'latin1');
      h.write(octal(0, 8), 108, 'latin1');
      h.write(octal(0, 8), 116, 'latin1');
      h.write(octal(data.length, 12), 124, 'latin1');
      h.write(octal(0, 12), 136, 'latin1');
      h.write('        ', 148, 'latin1');
      h.write('0', 156, 'latin1');
      h.write('ustar\0' + '00', 257, 'latin1');
      let sum = 0;
      for (const b of h) sum += b;
      h.write(octal(sum, 7) + ' ', 148, 'latin1');
      writeSync(fd, h, 0, 512, pos);
      writeSync(fd, data, 0, data.length, pos + 512);
      pos += 512 + Math.ceil(data.length / 512) * 512;
    }
    writeSync(fd, Buffer.alloc(1024), 0, 1024, pos);
  } finally {
    closeSync(fd);
  }
}

/** Manifest lines "ALGO(name)= hex" for the given members. */
export function manifestFor(entries: TarEntry[], algorithm: 'SHA1' | 'SHA256' = 'SHA256'): Buffer {
  const lines = entries.map((e) => {
    const data = e.data ?? readFileSync(e.path!);
    const hex = createHash(algorithm === 'SHA1' ? 'sha1' : 'sha256').update(data).digest('hex');
    return `${algorithm}(${e.name})= ${hex}\n`;
  });
  return Buffer.from(lines.join(''));
}

export function writeFile(path: string, data: Buffer | string): string {
  writeFileSync(path, data);
  return path;
}

function guidBytes(s: string): Buffer {
  const h = s.replace(/[{}-]/g, '');
  const b = Buffer.from(h, 'hex');
  // data1..3 are stored little-endian (Microsoft GUID layout)
  return Buffer.concat([Buffer.from(b.subarray(0, 4)).reverse(), Buffer.from(b.subarray(4, 6)).reverse(), Buffer.from(b.subarray(6, 8)).reverse(), b.subarray(8)]);
}

function guidText(b: Buffer): string {
  const hex = (x: Buffer) => x.toString('hex').toUpperCase();
  return `${hex(Buffer.from(b.subarray(0, 4)).reverse())}-${hex(Buffer.from(b.subarray(4, 6)).reverse())}-${hex(Buffer.from(b.subarray(6, 8)).reverse())}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}`;
}

/** DataWriteGuid of a VHDX's current header (the valid one with the higher sequence). */
export function vhdxDataWriteGuid(path: string): string {
  const h1 = readRange(path, 64 * 1024, 4096);
  const h2 = readRange(path, 128 * 1024, 4096);
  const cur = h1.readBigUInt64LE(8) >= h2.readBigUInt64LE(8) ? h1 : h2;
  return guidText(cur.subarray(32, 48));
}

export interface VhdxChildBlock {
  block: number; // 1 MiB payload block index
  state: 'partial' | 'full' | 'zero';
  sectors?: Array<[number, Buffer]>; // partial: [first sector within the block, whole sectors]
  data?: Buffer; // full: 1 MiB
}

/**
 * A differencing VHDX (1 MiB blocks, 512-byte sectors) over `parentPath`: BAT payload
 * states PARTIALLY_PRESENT (sector bitmap, LSB-first), FULLY_PRESENT and ZERO; a parent
 * locator with parent_linkage (the parent's DataWriteGuid unless overridden) and a
 * relative_path ".\<parent name>". Headers and region tables carry CRC-32C.
 */
export function writeDiffVhdx(childPath: string, parentPath: string, virtualSize: number, blocks: VhdxChildBlock[], linkage?: string): void {
  const MiB = 1024 * 1024;
  const KiB = 1024;
  const blockSize = MiB;
  const chunkRatio = (2 ** 23 * 512) / blockSize; // 4096
  const nblocks = Math.ceil(virtualSize / blockSize);
  const nbitmaps = Math.ceil(nblocks / chunkRatio);
  const batEntries = nbitmaps * (chunkRatio + 1);
  const fd = openSync(childPath, 'w');
  const put = (buf: Buffer, at: number) => writeSync(fd, buf, 0, buf.length, at);
  try {
    const id = Buffer.alloc(64 * KiB);
    id.write('vhdxfile', 0, 'latin1');
    Buffer.from('h2k test generator', 'utf16le').copy(id, 8);
    put(id, 0);
    for (const [at, seq] of [[64 * KiB, 2n], [128 * KiB, 1n]] as const) {
      const h = Buffer.alloc(4 * KiB);
      h.write('head', 0, 'latin1');
      h.writeBigUInt64LE(seq, 8);
      guidBytes('11111111-2222-3333-4444-555555555555').copy(h, 16);
      guidBytes('66666666-7777-8888-9999-AAAAAAAAAAAA').copy(h, 32);
      h.writeUInt16LE(0, 64);
      h.writeUInt16LE(1, 66);
      h.writeUInt32LE(MiB, 68);
      h.writeBigUInt64LE(BigInt(MiB), 72);
      h.writeUInt32LE(crc32c(h), 4);
      put(h, at);
    }
    const rt = Buffer.alloc(64 * KiB);
    rt.write('regi', 0, 'latin1');
    rt.writeUInt32LE(2, 8);
    guidBytes('2DC27766-F623-4200-9D64-115E9BFD4A08').copy(rt, 16);
    rt.writeBigUInt64LE(BigInt(2 * MiB), 32);
    rt.writeUInt32LE(MiB, 40);
    rt.writeUInt32LE(1, 44);
    guidBytes('8B7CA206-4790-4B9A-B8FE-575F050F886E').copy(rt, 48);
    rt.writeBigUInt64LE(BigInt(3 * MiB), 64);
    rt.writeUInt32LE(MiB, 72);
    rt.writeUInt32LE(1, 76);
    rt.writeUInt32LE(crc32c(rt), 4);
    put(rt, 192 * KiB);
    put(rt, 256 * KiB);
    // Metadata region at 3 MiB: table, then items from +64 KiB.
    const md = Buffer.alloc(MiB);
    md.write('metadata', 0, 'latin1');
    const items: Array<[string, Buffer, number]> = [];
    const fp = Buffer.alloc(8);
    fp.writeUInt32LE(blockSize, 0);
    fp.writeUInt32LE(2, 4); // has parent
    items.push(['CAA16737-FA36-4D43-B3B6-33F0AA44E76B', fp, 4]);
    const vs = Buffer.alloc(8);
    vs.writeBigUInt64LE(BigInt(virtualSize));
    items.push(['2FA54224-CD1B-4876-B211-5DBED83BF4B8', vs, 6]);
    const ls = Buffer.alloc(4);
    ls.writeUInt32LE(512);
    items.push(['8141BF1D-A96F-4709-BA47-F233A8FAAB5F', ls, 6]);
    items.push(['CDA348C7-445D-4471-9CC9-E9885251C556', Buffer.from(ls), 6]);
    items.push(['BECA12AB-B2E6-4523-93EF-C309E000C746', Buffer.alloc(16, 0x42), 6]);
    const kv: Array<[string, string]> = [
      ['parent_linkage', `{${linkage ?? vhdxDataWriteGuid(parentPath)}}`],
      ['relative_path', `.\\${basename(parentPath)}`],
    ];
    const locHeader = Buffer.alloc(20 + kv.length * 12);
    guidBytes('B04AEFB7-D19E-4A81-B789-25B8E9445913').copy(locHeader, 0);
    locHeader.writeUInt16LE(kv.length, 18);
    const strings: Buffer[] = [];
    let off = locHeader.length;
    kv.forEach(([k, v], i) => {
      const kb = Buffer.from(k, 'utf16le');
      const vb = Buffer.from(v, 'utf16le');
      locHeader.writeUInt32LE(off, 20 + i * 12);
      locHeader.writeUInt32LE(off + kb.length, 24 + i * 12);
      locHeader.writeUInt16LE(kb.length, 28 + i * 12);
      locHeader.writeUInt16LE(vb.length, 30 + i * 12);
      strings.push(kb, vb);
      off += kb.length + vb.length;
    });
    items.push(['A8D35F2D-B30B-454D-ABF7-D3D84834AB0C', Buffer.concat([locHeader, ...strings]), 6]);
    md.writeUInt16LE(items.length, 10);
    let itemAt = 64 * KiB;
    items.forEach(([g, data, flags], i) => {
      const e = 32 + i * 32;
      guidBytes(g).copy(md, e);
      md.writeUInt32LE(itemAt, e + 16);
      md.writeUInt32LE(data.length, e + 20);
      md.writeUInt32LE(flags, e + 24);
      data.copy(md, itemAt);
      itemAt += Math.ceil(data.length / 8) * 8;
    });
    put(md, 3 * MiB);
    // BAT at 2 MiB, sector bitmap block at 4 MiB, payload blocks from 5 MiB.
    const bat = Buffer.alloc(batEntries * 8);
    const bitmap = Buffer.alloc(MiB);
    let next = 5 * MiB;
    for (const b of blocks) {
      const idx = b.block + Math.floor(b.block / chunkRatio);
      if (b.state === 'zero') {
        bat.writeBigUInt64LE(2n, idx * 8);
        continue;
      }
      const payload = b.state === 'full' ? b.data! : Buffer.alloc(blockSize);
      for (const [sector, bytes] of b.sectors ?? []) {
        bytes.copy(payload, sector * 512);
        for (let s = 0; s < bytes.length / 512; s++) {
          const bit = (b.block % chunkRatio) * (blockSize / 512) + sector + s;
          bitmap[bit >> 3] |= 1 << (bit & 7);
        }
      }
      bat.writeBigUInt64LE((BigInt(next / MiB) << 20n) | (b.state === 'full' ? 6n : 7n), idx * 8);
      put(payload, next);
      next += blockSize;
    }
    bat.writeBigUInt64LE((4n << 20n) | 6n, chunkRatio * 8); // bitmap block of chunk 0
    put(bat, 2 * MiB);
    put(bitmap, 4 * MiB);
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes `path` (a clean VHDX written by qemu) look like a disk that crashed after a
 * metadata write was committed to its log but before it reached the BAT: `payload` (1 MiB)
 * is appended at a new 1 MiB-aligned offset, the BAT sector pointing block `block` at it is
 * written ONLY into a log entry, and both headers get the entry's LogGuid. Without replay the
 * block reads as before; replayed (by us, or by `qemu-img check -r all`) it reads `payload`.
 */
export function addPendingVhdxLogEntry(path: string, block: number, payload: Buffer): void {
  const KiB = 1024;
  const MiB = 1024 * KiB;
  const h1 = readRange(path, 64 * KiB, 4096);
  const h2 = readRange(path, 128 * KiB, 4096);
  const cur = h1.readBigUInt64LE(8) >= h2.readBigUInt64LE(8) ? h1 : h2;
  const logLength = cur.readUInt32LE(68);
  const logOffset = Number(cur.readBigUInt64LE(72));
  const rt = readRange(path, 192 * KiB, 64 * KiB);
  let batOffset = -1;
  for (let i = 0; i < rt.readUInt32LE(8); i++) {
    const e = rt.subarray(16 + i * 32, 48 + i * 32);
    if (guidText(e.subarray(0, 16)) === '2DC27766-F623-4200-9D64-115E9BFD4A08') batOffset = Number(e.readBigUInt64LE(16));
  }
  if (batOffset < 0) throw new Error('no BAT region');
  // Block size from the file parameters item of the metadata region (first item qemu writes).
  const size = statSync(path).size;
  const newOff = Math.ceil(size / MiB) * MiB;
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, payload, 0, payload.length, newOff);
  } finally {
    closeSync(fd);
  }
  const blockSize = vhdxBlockSize(path);
  const chunkRatio = (2 ** 23 * 512) / blockSize;
  const idx = block + Math.floor(block / chunkRatio);
  const sectorOff = batOffset + Math.floor((idx * 8) / 4096) * 4096;
  const sector = readRange(path, sectorOff, 4096);
  sector.writeBigUInt64LE((BigInt(newOff / MiB) << 20n) | 6n, (idx * 8) % 4096);
  const guid = Buffer.from('a1b2c3d4e5f60718293a4b5c6d7e8f90', 'hex');
  const seq = 10n;
  const entry = Buffer.alloc(8192);
  entry.write('loge', 0, 'latin1');
  entry.writeUInt32LE(8192, 8);
  entry.writeUInt32LE(0, 12); // tail: this entry
  entry.writeBigUInt64LE(seq, 16);
  entry.writeUInt32LE(1, 24);
  guid.copy(entry, 32);
  entry.writeBigUInt64LE(BigInt(newOff + payload.length), 48);
  entry.writeBigUInt64LE(BigInt(newOff + payload.length), 56);
  const d = 64;
  entry.write('desc', d, 'latin1');
  sector.copy(entry, d + 4, 4092, 4096);
  sector.copy(entry, d + 8, 0, 8);
  entry.writeBigUInt64LE(BigInt(sectorOff), d + 16);
  entry.writeBigUInt64LE(seq, d + 24);
  entry.write('data', 4096, 'latin1');
  entry.writeUInt32LE(Number(seq >> 32n), 4100);
  sector.copy(entry, 4104, 8, 4092);
  entry.writeUInt32LE(Number(seq & 0xffffffffn), 8188);
  entry.writeUInt32LE(crc32c(entry), 4);
  writeRange(path, logOffset, entry);
  if (logLength < 8192) throw new Error('log too small');
  for (const at of [64 * KiB, 128 * KiB]) {
    const h = readRange(path, at, 4096);
    guid.copy(h, 48);
    h.writeUInt32LE(0, 4);
    h.writeUInt32LE(crc32c(h), 4);
    writeRange(path, at, h);
  }
}

function vhdxBlockSize(path: string): number {
  const rt = readRange(path, 192 * 1024, 64 * 1024);
  for (let i = 0; i < rt.readUInt32LE(8); i++) {
    const e = rt.subarray(16 + i * 32, 48 + i * 32);
    if (guidText(e.subarray(0, 16)) !== '8B7CA206-4790-4B9A-B8FE-575F050F886E') continue;
    const mdOff = Number(e.readBigUInt64LE(16));
    const md = readRange(path, mdOff, 64 * 1024);
    for (let k = 0; k < md.readUInt16LE(10); k++) {
      const it = md.subarray(32 + k * 32, 64 + k * 32);
      if (guidText(it.subarray(0, 16)) === 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B')
        return readRange(path, mdOff + it.readUInt32LE(16), 4).readUInt32LE(0);
    }
  }
  throw new Error('no file parameters');
}
