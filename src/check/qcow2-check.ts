// qcow2's part of `h2k check`, as qemu-img check counts it (qemu 7.2 block/qcow2-refcount.c):
// one walk of the header, active L1/L2 tables and refcount table gives the cluster figures
// (check_refcounts_l2 with CHECK_FRAG_INFO: allocated = normal, zero-allocated and compressed
// clusters; fragmented = not right after the previous cluster of the same L2 table, compressed
// always) and every cluster's reference count, compared with the stored refcounts (stored >
// counted is a leak, stored < counted a corruption). Runs after the native reader has opened and
// read the image. Refcounts are not checked (undefined) for what the walk does not cover:
// internal snapshots, persistent bitmaps, encryption, any incompatible feature.
import { open } from 'node:fs/promises';
import { H2kError } from '../util/errors.js';

export interface Qcow2Figures {
  allocated: number;
  fragmented: number;
  compressed: number;
}

export interface Qcow2Refcounts {
  leaks: number;
  /** Clusters referenced more often than their stored refcount says. */
  corruptions: number;
  /** File offset of the first such cluster. */
  firstCorruptOffset?: number;
  imageEndOffset: number;
}

const OFFSET_MASK = 0x00ff_ffff_ffff_fe00n; // L1 and L2 entries
const BITMAPS_EXTENSION = 0x23852875;
const EXTENDED_L2 = 1n << 4n;

export async function qcow2Check(path: string): Promise<{ figures?: Qcow2Figures; refcounts?: Qcow2Refcounts }> {
  const fh = await open(path, 'r');
  try {
    const fileSize = (await fh.stat()).size;
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      if (bytesRead !== length) throw new H2kError(`qcow2 ${path}: table at ${offset} runs past the end of the file`, { code: 'E_TRUNCATED', file: path, offset });
      return buf;
    };
    const h = await read(0, 104);
    const version = h.readUInt32BE(4);
    const incompatible = version === 3 ? h.readBigUInt64BE(72) : 0n;
    if ((version !== 2 && version !== 3) || incompatible & EXTENDED_L2) return {};
    let refcounts = h.readUInt32BE(32) === 0 && h.readUInt32BE(60) === 0 && incompatible === 0n; // no encryption, snapshots
    const headerLength = version === 3 ? h.readUInt32BE(100) : 72;
    const clusterBits = h.readUInt32BE(20);
    const cs = 2 ** clusterBits;
    for (let at = headerLength; refcounts && at + 8 <= cs; ) {
      const ext = await read(at, 8);
      if (ext.readUInt32BE(0) === 0) break;
      if (ext.readUInt32BE(0) === BITMAPS_EXTENSION) refcounts = false;
      at += 8 + Math.ceil(ext.readUInt32BE(4) / 8) * 8;
    }

    const nbClusters = Math.ceil(fileSize / cs);
    const counted = new Uint16Array(nbClusters);
    const count = (offset: number, length: number) => {
      for (let c = Math.floor(offset / cs); c <= Math.floor((offset + length - 1) / cs); c++) {
        if (c >= nbClusters)
          throw new H2kError(`qcow2 ${path}: metadata references cluster ${c}, past the end of the file`, { code: 'E_QCOW2_BAD_REFCOUNT', file: path, offset });
        if (counted[c] < 0xffff) counted[c]++;
      }
    };
    const figures: Qcow2Figures = { allocated: 0, fragmented: 0, compressed: 0 };
    const l1Offset = Number(h.readBigUInt64BE(40));
    const l1 = await read(l1Offset, h.readUInt32BE(36) * 8);
    count(0, cs);
    if (l1.length) count(l1Offset, l1.length);
    const csizeShift = BigInt(62 - (clusterBits - 8));
    const csizeMask = (1n << BigInt(clusterBits - 8)) - 1n;
    for (let i = 0; i < l1.length; i += 8) {
      const l2Offset = Number(l1.readBigUInt64BE(i) & OFFSET_MASK);
      if (l2Offset === 0) continue;
      count(l2Offset, cs);
      const l2 = await read(l2Offset, cs);
      let next = 0; // qemu's next_contiguous_offset, per L2 table
      for (let j = 0; j < cs; j += 8) {
        const e = l2.readBigUInt64BE(j);
        if ((e >> 62n) & 1n) {
          figures.allocated++;
          figures.compressed++;
          figures.fragmented++;
          const coffset = Number(e & ((1n << csizeShift) - 1n));
          count(coffset, (Number((e >> csizeShift) & csizeMask) + 1) * 512 - (coffset & 511));
          continue;
        }
        const offset = Number(e & OFFSET_MASK);
        if (offset === 0) continue; // unallocated or a plain zero cluster
        figures.allocated++;
        if (next && offset !== next) figures.fragmented++;
        next = offset + cs;
        count(offset, cs);
      }
    }
    if (!refcounts) return { figures };

    const rtOffset = Number(h.readBigUInt64BE(48));
    const rt = await read(rtOffset, h.readUInt32BE(56) * cs);
    count(rtOffset, rt.length);
    const bits = 2 ** (version === 3 ? h.readUInt32BE(96) : 4);
    const perBlock = (cs * 8) / bits;
    const blocks = new Map<number, Buffer>();
    for (let i = 0; i < rt.length; i += 8) {
      const block = Number(rt.readBigUInt64BE(i) & ~0x1ffn);
      if (!block) continue;
      count(block, cs);
      blocks.set(i / 8, await read(block, cs));
    }
    const stored = (c: number): number => {
      const block = blocks.get(Math.floor(c / perBlock));
      if (!block) return 0;
      const bit = (c % perBlock) * bits;
      if (bits < 8) return (block[Math.floor(bit / 8)] >> (8 - bits - (bit % 8))) & ((1 << bits) - 1);
      let v = 0;
      for (let b = 0; b < bits / 8; b++) v = v * 256 + block[bit / 8 + b];
      return v;
    };
    const r: Qcow2Refcounts = { leaks: 0, corruptions: 0, imageEndOffset: 0 };
    for (let c = 0; c < nbClusters; c++) {
      const s = stored(c);
      if (s > 0 || counted[c] > 0) r.imageEndOffset = (c + 1) * cs;
      if (s > counted[c]) r.leaks++;
      else if (s < counted[c]) {
        r.corruptions++;
        r.firstCorruptOffset ??= c * cs;
      }
    }
    return { figures, refcounts: r };
  } finally {
    await fh.close();
  }
}
