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
