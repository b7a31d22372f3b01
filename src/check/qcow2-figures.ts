// qemu-img check's cluster figures for qcow2, from the active L1/L2 tables as qemu counts them
// (qemu 7.2 block/qcow2-refcount.c check_refcounts_l2 with CHECK_FRAG_INFO): allocated = normal,
// zero-allocated and compressed clusters; fragmented = a cluster not right after the previous
// one in the file (compressed clusters always); compressed from the L2 entries' flag.
// Runs after the native reader has opened and read the image, so the tables are known to be sane.
import { open } from 'node:fs/promises';

export interface Qcow2Figures {
  allocated: number;
  fragmented: number;
  compressed: number;
}

const OFFSET_MASK = 0x00ff_ffff_ffff_fe00n;
const COMPRESSED = 1n << 62n;
const EXTENDED_L2 = 1 << 4; // incompatible feature bit

/** undefined when the layout is one this walk does not cover (version 2 or 3 only, no extended L2). */
export async function qcow2Figures(path: string): Promise<Qcow2Figures | undefined> {
  const fh = await open(path, 'r');
  try {
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      if (bytesRead !== length) throw new Error(`short read at ${offset}`);
      return buf;
    };
    const h = await read(0, 104);
    const version = h.readUInt32BE(4);
    if (version !== 2 && version !== 3) return undefined;
    if (version === 3 && Number(h.readBigUInt64BE(72) & BigInt(EXTENDED_L2)) !== 0) return undefined;
    const clusterSize = 2 ** h.readUInt32BE(20);
    const l1 = await read(Number(h.readBigUInt64BE(40)), h.readUInt32BE(36) * 8);
    const figures: Qcow2Figures = { allocated: 0, fragmented: 0, compressed: 0 };
    for (let i = 0; i < l1.length; i += 8) {
      const l2Offset = Number(l1.readBigUInt64BE(i) & OFFSET_MASK);
      if (l2Offset === 0) continue;
      const l2 = await read(l2Offset, clusterSize);
      let next = 0; // qemu's next_contiguous_offset, per L2 table
      for (let j = 0; j < clusterSize; j += 8) {
        const e = l2.readBigUInt64BE(j);
        if (e & COMPRESSED) {
          figures.allocated++;
          figures.compressed++;
          figures.fragmented++;
          continue;
        }
        const offset = Number(e & OFFSET_MASK);
        if (offset === 0) continue; // unallocated or a plain zero cluster
        figures.allocated++;
        if (next && offset !== next) figures.fragmented++;
        next = offset + clusterSize;
      }
    }
    return figures;
  } finally {
    await fh.close();
  }
}
