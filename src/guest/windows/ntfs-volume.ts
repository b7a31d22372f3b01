// What a Windows volume's own first bytes say before anything mounts it: BitLocker's "-FVE-FS-" OEM
// id in the boot sector, and NTFS's dirty bit (VOLUME_INFORMATION flags in $Volume, MFT record 3),
// which Windows sets while the volume is in use and clears on a clean shutdown, and which chkdsk
// and ntfsfix set to ask for a check. ntfs-3g mounts a dirty volume without a word, so h2k reads it.

/** What a partition's boot sector holds. */
export type VolumeKind = 'ntfs' | 'bitlocker' | 'other';

/** Reads `size` bytes of a device at `offset` (a guestfish download-offset, a file read in tests). */
export type ReadBytes = (offset: number, size: number) => Promise<Buffer>;

const FVE_OEM = '-FVE-FS-';
const NTFS_OEM = 'NTFS    ';
const VOLUME_RECORD = 3;               // $Volume
const ATTR_VOLUME_INFORMATION = 0x70;
const ATTR_END = 0xffffffff;
const VOLUME_IS_DIRTY = 0x0001;
const FIXUP_STRIDE = 512;              // NTFS protects every 512 bytes of a record, whatever the sector size

export function volumeKind(bootSector: Buffer): VolumeKind {
  if (bootSector.length < 11) return 'other';
  const oem = bootSector.toString('latin1', 3, 11);
  return oem === FVE_OEM ? 'bitlocker' : oem === NTFS_OEM ? 'ntfs' : 'other';
}

class NtfsLayoutError extends Error {}

function layout(boot: Buffer): { clusterSize: number; mftOffset: number; recordSize: number } {
  const bytesPerSector = boot.readUInt16LE(0x0b);
  const spc = boot.readUInt8(0x0d);
  // sectors per cluster above 0x80 is a negative power of two (2 MiB clusters on Windows 10+)
  const sectorsPerCluster = spc > 0x80 ? 2 ** (256 - spc) : spc;
  const clusterSize = bytesPerSector * sectorsPerCluster;
  const mftLcn = Number(boot.readBigUInt64LE(0x30));
  const cpr = boot.readInt8(0x40);
  const recordSize = cpr < 0 ? 2 ** -cpr : cpr * clusterSize;
  if (![512, 1024, 2048, 4096].includes(bytesPerSector) || !clusterSize || recordSize < 1024 || recordSize > 65536 || !Number.isSafeInteger(mftLcn * clusterSize))
    throw new NtfsLayoutError(`an NTFS boot sector with an impossible geometry (${bytesPerSector} bytes a sector, ${clusterSize} a cluster, ${recordSize} an MFT record)`);
  return { clusterSize, mftOffset: mftLcn * clusterSize, recordSize };
}

/** The record with its update sequence undone (the last two bytes of every 512 restored). */
function applyFixups(rec: Buffer): Buffer {
  if (rec.toString('latin1', 0, 4) !== 'FILE') throw new NtfsLayoutError('MFT record 3 ($Volume) has no FILE signature');
  const usaOffset = rec.readUInt16LE(4);
  const usaCount = rec.readUInt16LE(6);
  if (usaCount < 1 || usaOffset + usaCount * 2 > rec.length || (usaCount - 1) * FIXUP_STRIDE > rec.length)
    throw new NtfsLayoutError('MFT record 3 ($Volume) has a broken update sequence');
  const out = Buffer.from(rec);
  const usn = rec.readUInt16LE(usaOffset);
  for (let i = 1; i < usaCount; i++) {
    const end = i * FIXUP_STRIDE - 2;
    if (out.readUInt16LE(end) !== usn) throw new NtfsLayoutError('MFT record 3 ($Volume) is torn (update sequence mismatch)');
    out.writeUInt16LE(rec.readUInt16LE(usaOffset + i * 2), end);
  }
  return out;
}

/** VOLUME_INFORMATION's flags word, walking the record's attributes. */
function volumeFlags(rec: Buffer): number {
  let at = rec.readUInt16LE(0x14);
  while (at + 8 <= rec.length) {
    const type = rec.readUInt32LE(at);
    if (type === ATTR_END) break;
    const len = rec.readUInt32LE(at + 4);
    if (len < 16 || at + len > rec.length) break;
    if (type === ATTR_VOLUME_INFORMATION && rec.readUInt8(at + 8) === 0) {
      const value = at + rec.readUInt16LE(at + 0x14);
      if (rec.readUInt32LE(at + 0x10) >= 12 && value + 12 <= at + len) return rec.readUInt16LE(value + 10);
    }
    at += len;
  }
  throw new NtfsLayoutError('$Volume has no VOLUME_INFORMATION attribute');
}

export interface NtfsState { kind: VolumeKind; dirty: boolean | null; detail: string | null }

/**
 * The volume's kind and, for NTFS, its dirty bit. `dirty: null` with a `detail` when the metadata
 * cannot be read (h2k then leaves the verdict to ntfs-3g's own checks).
 */
export async function ntfsState(read: ReadBytes): Promise<NtfsState> {
  const boot = await read(0, 512);
  const kind = volumeKind(boot);
  if (kind !== 'ntfs') return { kind, dirty: null, detail: null };
  try {
    const { mftOffset, recordSize } = layout(boot);
    const rec = applyFixups(await read(mftOffset + VOLUME_RECORD * recordSize, recordSize));
    return { kind, dirty: (volumeFlags(rec) & VOLUME_IS_DIRTY) !== 0, detail: null };
  } catch (err) {
    if (err instanceof NtfsLayoutError || err instanceof RangeError) return { kind, dirty: null, detail: err.message };
    throw err;
  }
}
