// `h2k measure`: how many bytes a conversion will need, from the source's own allocation map
// (the native readers' block status), counted the way `qemu-img measure` counts them so the two
// agree on qcow2 and raw (qemu 7.2 block/qcow2.c qcow2_measure, block/raw-format.c raw_measure).
import { H2kError } from '../util/errors.js';
import { loadAddon, type NativeImageMap, type NativeOpenOptions } from '../native/addon.js';
import type { Compression, OutputFormat } from './types.js';

export interface MeasureRequest {
  source: string;
  outputFormat: OutputFormat;
  compression: Compression;
  /** qcow2 cluster size in bytes (default 64 KiB). */
  clusterSize?: number;
  sourceFormat?: string;
  allowExternalPaths?: boolean;
}

export interface MeasureResult {
  source: string;
  outputFormat: OutputFormat;
  virtualSize: number;
  /** Guest bytes the source backs with data (zero and unallocated runs excluded). */
  dataBytes: number;
  /** What the output needs. An upper bound for compressed qcow2 and for vmdk (streamOptimized, always compressed). */
  required: number;
  /** The output with every cluster written. */
  fullyAllocated: number;
  /** true when `required` is an upper bound rather than the exact size to expect. */
  upperBound: boolean;
}

const SECTOR = 512;
const FS_BLOCK = 4096;
const QCOW2_DEFAULT_CLUSTER = 64 * 1024;
const REFCOUNT_ORDER = 4; // 16-bit refcounts, what h2k and qemu write

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;
const divRoundUp = (n: number, d: number) => Math.ceil(n / d);

/**
 * Bytes of the data runs counted at `granularity`: each run is extended to the end of its
 * granule and the next run starts there, as qemu's measure loop does (a granule with any data
 * is written whole).
 */
export function allocatedAt(map: NativeImageMap, granularity: number): number {
  let required = 0;
  let countedTo = 0; // end of the last granule counted
  for (const run of map.runs) {
    if (run.kind !== 'data') continue;
    const start = Math.max(run.offset, countedTo);
    const end = run.offset + run.length;
    if (start >= end) continue;
    const from = start - (start % granularity);
    const to = roundUp(end, granularity);
    required += to - from;
    countedTo = to;
  }
  return required;
}

/**
 * The filesystem's own blocks for a sparse file's extent map: ext4 keeps 4 extents in the inode,
 * beyond that one 4 KiB tree block per 340 extents of at most 128 MiB each (xfs and btrfs need
 * less). Without it a fragmented raw output's `du` can pass the required size by a block.
 */
export function extentTreeAllowance(map: NativeImageMap): number {
  let extents = 0;
  let runEnd = -1; // end of the current 4 KiB-aligned run of data
  let runStart = 0;
  const close = () => {
    if (runEnd > runStart) extents += divRoundUp(runEnd - runStart, 128 * 1024 * 1024);
  };
  for (const run of map.runs) {
    if (run.kind !== 'data') continue;
    const from = run.offset - (run.offset % FS_BLOCK);
    const to = roundUp(run.offset + run.length, FS_BLOCK);
    if (from > runEnd) {
      close();
      runStart = from;
    }
    runEnd = Math.max(runEnd, to);
  }
  close();
  return extents <= 4 ? 0 : divRoundUp(extents, 340) * FS_BLOCK;
}

/** qemu's qcow2_refcount_metadata_size: the fixed point where refcount blocks and table cover every cluster, themselves included. */
function refcountMetadataSize(clusters: number, clusterSize: number): number {
  const blocksPerTableCluster = clusterSize / 8;
  const refcountsPerBlock = (clusterSize * 8) / (1 << REFCOUNT_ORDER);
  let table = 0;
  let blocks = 0;
  let n = 0;
  let last: number;
  do {
    last = n;
    blocks = divRoundUp(clusters + table + blocks, refcountsPerBlock);
    table = divRoundUp(blocks, blocksPerTableCluster);
    n = clusters + blocks + table;
  } while (n !== last);
  return (blocks + table) * clusterSize;
}

/** qemu's qcow2_calc_prealloc_size: header + L2 + L1 + refcount metadata + every data cluster. */
export function qcow2FullyAllocated(virtualSize: number, clusterSize: number): number {
  const aligned = roundUp(virtualSize, clusterSize);
  let meta = clusterSize; // header
  const nl2e = roundUp(aligned / clusterSize, clusterSize / 8);
  meta += nl2e * 8;
  const nl1e = roundUp((nl2e * 8) / clusterSize, clusterSize / 8);
  meta += nl1e * 8;
  meta += refcountMetadataSize((meta + aligned) / clusterSize, clusterSize);
  return meta + aligned;
}

// VDI as h2k writes it (formats/vdi/vdi_writer.cpp): the block map at 1 MiB, data 1 MiB-aligned after it.
const VDI_BLOCK = 1024 * 1024;
function vdiSizes(virtualSize: number, map: NativeImageMap): { required: number; fully: number } {
  const disk = roundUp(virtualSize, SECTOR);
  const blocks = divRoundUp(disk, VDI_BLOCK);
  const dataOffset = roundUp(VDI_BLOCK + blocks * 4, VDI_BLOCK);
  return { required: dataOffset + allocatedAt(map, VDI_BLOCK), fully: dataOffset + blocks * VDI_BLOCK };
}

// streamOptimized VMDK: every grain deflated, so only a bound is knowable before the work: a
// grain that does not compress (zlib's compressBound) plus its marker, sector-aligned; one grain
// table (and its marker) per 512 grains, the grain directory, header, descriptor, footer, end marker.
const GRAIN = 64 * 1024;
const GRAIN_BOUND = roundUp(SECTOR + GRAIN + (GRAIN >> 12) + (GRAIN >> 14) + 13, SECTOR);
function vmdkSizes(virtualSize: number, map: NativeImageMap): { required: number; fully: number } {
  const grains = divRoundUp(roundUp(virtualSize, SECTOR), GRAIN);
  const tables = divRoundUp(grains, 512);
  const fixed = 128 * SECTOR + tables * (SECTOR + 512 * 4) + SECTOR + roundUp(tables * 4, SECTOR) + 4 * SECTOR;
  return { required: fixed + (allocatedAt(map, GRAIN) / GRAIN) * GRAIN_BOUND, fully: fixed + grains * GRAIN_BOUND };
}

/** Sizes for `map` written as `req.outputFormat`; pure, for tests and for `convert --dry-run`. */
export function measureMap(map: NativeImageMap, req: Omit<MeasureRequest, 'source' | 'sourceFormat' | 'allowExternalPaths'>): Omit<MeasureResult, 'source'> {
  const virtualSize = map.virtualSize;
  const dataBytes = map.runs.filter((r) => r.kind === 'data').reduce((n, r) => n + r.length, 0);
  const base = { outputFormat: req.outputFormat, virtualSize, dataBytes };
  switch (req.outputFormat) {
    case 'qcow2': {
      const cluster = req.clusterSize ?? QCOW2_DEFAULT_CLUSTER;
      // qemu rounds the output's size to sectors, then counts the metadata of the fully
      // allocated image (an overestimate for a sparse one) plus the clusters data touches.
      const fully = qcow2FullyAllocated(roundUp(virtualSize, SECTOR), cluster);
      const required = fully - roundUp(roundUp(virtualSize, SECTOR), cluster) + allocatedAt(map, cluster);
      return { ...base, required, fullyAllocated: fully, upperBound: req.compression !== 'none' };
    }
    case 'raw':
      // A sparse file takes disk blocks only where data is, whole 4 KiB filesystem blocks (ext4,
      // xfs, btrfs), plus its extent tree. qemu-img 7.2 answers the virtual size here; the blocks
      // are what fills a disk.
      return { ...base, required: allocatedAt(map, FS_BLOCK) + extentTreeAllowance(map), fullyAllocated: roundUp(virtualSize, SECTOR), upperBound: false };
    case 'vdi': {
      const s = vdiSizes(virtualSize, map);
      return { ...base, required: s.required, fullyAllocated: s.fully, upperBound: false };
    }
    case 'vmdk': {
      const s = vmdkSizes(virtualSize, map);
      return { ...base, required: s.required, fullyAllocated: s.fully, upperBound: true };
    }
    default:
      throw new H2kError(`h2k has no size estimate for ${req.outputFormat} output`, { code: 'E_INVALID_ARGUMENT' });
  }
}

export async function measureImage(req: MeasureRequest): Promise<MeasureResult> {
  // An OVA member's .mf digest is checked by the conversion from its own reads; checking it here
  // would read the whole disk to count its allocation.
  const options: NativeOpenOptions = { allowExternalPaths: req.allowExternalPaths ?? false, deferDigestChecks: true };
  if (req.sourceFormat) options.format = req.sourceFormat;
  const map = await loadAddon().imageMap(req.source, options);
  return { source: req.source, ...measureMap(map, req) };
}
