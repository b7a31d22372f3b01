// qcow2 leaks and image end offset as qemu-img check finds them (qemu 7.2 block/qcow2-refcount.c
// qcow2_check_refcounts): every cluster the metadata references (header, L1, L2 tables, data and
// compressed clusters, refcount table and blocks) counted, then compared with the stored
// refcounts: stored > counted is a leak, stored < counted a corruption. Images this walk does not
// cover (internal snapshots, bitmaps, encryption, external data file, any incompatible feature)
// give undefined: not checked.
import { open } from 'node:fs/promises';
import { H2kError } from '../util/errors.js';

export interface Qcow2Refcounts {
  leaks: number;
  /** Clusters referenced more often than their stored refcount says. */
  corruptions: number;
  /** File offset of the first cluster whose refcount is too small. */
  firstCorruptOffset?: number;
  imageEndOffset: number;
}

const L1_L2_MASK = 0x00ff_ffff_ffff_fe00n;
const BITMAPS_EXTENSION = 0x23852875;

export async function qcow2Refcounts(path: string): Promise<Qcow2Refcounts | undefined> {
  const fh = await open(path, 'r');
  try {
    const fileSize = (await fh.stat()).size;
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      if (bytesRead !== length) throw new H2kError(`qcow2 ${path}: table at ${offset} runs past the end of the file`, { code: 'E_TRUNCATED', file: path, offset });
      return buf;
    };
    const h = await read(0, 112);
    const version = h.readUInt32BE(4);
    const clusterBits = h.readUInt32BE(20);
    const cs = 2 ** clusterBits;
    if (version !== 2 && version !== 3) return undefined;
    if (h.readUInt32BE(32) !== 0 || h.readUInt32BE(60) !== 0) return undefined; // encryption, internal snapshots
    const headerLength = version === 3 ? h.readUInt32BE(100) : 72;
    if (version === 3 && h.readBigUInt64BE(72) !== 0n) return undefined; // incompatible features
    for (let at = headerLength; at + 8 <= cs; ) { // header extensions
      const ext = await read(at, 8);
      const type = ext.readUInt32BE(0);
      if (type === 0) break;
      if (type === BITMAPS_EXTENSION) return undefined;
      at += 8 + Math.ceil(ext.readUInt32BE(4) / 8) * 8;
    }
    const nbClusters = Math.ceil(fileSize / cs);
    const counted = new Uint32Array(nbClusters);
    const count = (offset: number, length: number) => {
      for (let c = Math.floor(offset / cs); c <= Math.floor((offset + length - 1) / cs); c++) {
        if (c >= nbClusters)
          throw new H2kError(`qcow2 ${path}: metadata references cluster ${c}, past the end of the file`, { code: 'E_QCOW2_BAD_REFCOUNT', file: path, offset });
        counted[c]++;
      }
    };
    count(0, cs);
    const l1Size = h.readUInt32BE(36);
    const l1 = await read(Number(h.readBigUInt64BE(40)), l1Size * 8);
    if (l1Size) count(Number(h.readBigUInt64BE(40)), l1Size * 8);
    const csizeShift = BigInt(62 - (clusterBits - 8));
    const csizeMask = (1n << BigInt(clusterBits - 8)) - 1n;
    for (let i = 0; i < l1.length; i += 8) {
      const l2Offset = Number(l1.readBigUInt64BE(i) & L1_L2_MASK);
      if (l2Offset === 0) continue;
      count(l2Offset, cs);
      const l2 = await read(l2Offset, cs);
      for (let j = 0; j < cs; j += 8) {
        const e = l2.readBigUInt64BE(j);
        if ((e >> 62n) & 1n) {
          const coffset = Number(e & ((1n << csizeShift) - 1n));
          const sectors = Number((e >> csizeShift) & csizeMask) + 1;
          count(coffset, sectors * 512 - (coffset & 511));
        } else if (e & L1_L2_MASK) count(Number(e & L1_L2_MASK), cs);
      }
    }
    const rtOffset = Number(h.readBigUInt64BE(48));
    const rtClusters = h.readUInt32BE(56);
    count(rtOffset, rtClusters * cs);
    const rt = await read(rtOffset, rtClusters * cs);
    const refcountBits = 2 ** (version === 3 ? h.readUInt32BE(96) : 4);
    const perBlock = (cs * 8) / refcountBits;
    const blocks = new Map<number, Buffer>();
    for (let i = 0; i < rt.length; i += 8) {
      const block = Number(rt.readBigUInt64BE(i) & ~0x1ffn);
      if (block) {
        count(block, cs);
        blocks.set(i / 8, await read(block, cs));
      }
    }
    const stored = (c: number): number => {
      const block = blocks.get(Math.floor(c / perBlock));
      if (!block) return 0;
      const bit = (c % perBlock) * refcountBits;
      if (refcountBits >= 8) {
        let v = 0;
        for (let b = 0; b < refcountBits / 8; b++) v = v * 256 + block[bit / 8 + b];
        return v;
      }
      return (block[Math.floor(bit / 8)] >> (8 - refcountBits - (bit % 8))) & ((1 << refcountBits) - 1);
    };
    const result: Qcow2Refcounts = { leaks: 0, corruptions: 0, imageEndOffset: 0 };
    for (let c = 0; c < nbClusters; c++) {
      const s = stored(c);
      if (s > 0 || counted[c] > 0) result.imageEndOffset = (c + 1) * cs;
      if (s > counted[c]) result.leaks++;
      else if (s < counted[c]) {
        result.corruptions++;
        result.firstCorruptOffset ??= c * cs;
      }
    }
    return result;
  } finally {
    await fh.close();
  }
}
