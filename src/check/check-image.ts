// `h2k check`: qemu-img check's question ("is this image consistent?") answered by h2k's own
// readers: open (the readers validate metadata: overlaps, tables past EOF, lying sizes), walk the
// allocation map, then read and decode every allocated byte (a content hash pass), so every
// grain / cluster / block is proven readable. qcow2: refcounts and leaks too, as qemu-img check.
import { loadAddon, type NativeImageInfo, type NativeImageMap } from '../native/addon.js';
import { formats } from '../native/formats.js';
import { qcow2Check } from './qcow2-check.js';
import { runHashJob } from '../hash/hash-file.js';
import { H2kError, toH2kError } from '../util/errors.js';
import { EXIT, exitCodeFor } from '../cli/exit-codes.js';

export interface CheckRequest {
  path: string;
  format?: string;
  allowExternalPaths?: boolean;
  /** Cancels the read pass (Ctrl-C): the check ends with E_CANCELLED. */
  signal?: AbortSignal;
}

/** The outcome of a check, with qemu-img check's counters where h2k can compute them honestly. */
export interface CheckResult {
  format?: string;
  /** Allocation unit of the format (qcow2 cluster, VMDK grain, VDI/VHD/VHDX block); absent for raw. */
  clusterSize?: number;
  totalClusters?: number;
  /** Clusters holding data, as `qemu-img map` reports them (zero and unallocated runs excluded). */
  allocatedClusters?: number;
  /** qcow2 (from its L2 tables), and streamOptimized VMDK (every grain is compressed). */
  compressedClusters?: number;
  /** qcow2 only, when its refcounts were checked (not with internal snapshots, bitmaps, encryption). */
  leaks?: number;
  imageEndOffset?: number;
  /** Refcount mismatches found (qcow2); a reader's coded error counts as 1. */
  corruptions?: number;
  /** qcow2 only: clusters not right after the previous one in the file, as qemu-img check counts them. */
  fragmentedClusters?: number;
  /** Guest bytes read and decoded. */
  bytesRead: number;
  /** 'ok', 'leaks' (qcow2 leaked clusters only), 'corrupt' (a coded format error), 'failed' (could not complete), 'unsupported'. */
  status: 'ok' | 'leaks' | 'corrupt' | 'failed' | 'unsupported';
  error?: H2kError;
}

/** Codes that say the check could not run to the end, rather than a finding about the image. */
const INCOMPLETE = new Set(['E_NOT_FOUND', 'E_VMDK_MISSING_EXTENT', 'E_PATH_ESCAPE', 'E_FORMAT_MISMATCH']);
const UNSUPPORTED = new Set(['E_UNKNOWN_FORMAT', 'E_UNSUPPORTED']);

/** A coded format error (bad input in h2k's exit table) is a corruption; anything else stopped the check. */
export function statusFor(code: string): CheckResult['status'] {
  if (UNSUPPORTED.has(code)) return 'unsupported';
  return !INCOMPLETE.has(code) && exitCodeFor(code) === EXIT.BAD_INPUT ? 'corrupt' : 'failed';
}

/** The format's allocation unit, from the reader's own properties. */
export function allocationUnit(info: NativeImageInfo): number | undefined {
  const p = info.properties;
  const n = info.format === 'qcow2' ? Number(p.clusterSize) : info.format === 'vmdk' ? Number(p.grainSize) * 512 : Number(p.blockSize);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** Number of `unit`-sized clusters that hold any data run. */
export function clustersWithData(map: NativeImageMap, unit: number): number {
  let count = 0;
  let countedTo = 0; // end of the last cluster counted
  for (const run of map.runs) {
    if (run.kind !== 'data' || run.length === 0) continue;
    const first = Math.max(Math.floor(run.offset / unit), countedTo);
    const last = Math.floor((run.offset + run.length - 1) / unit);
    if (last >= first) count += last - first + 1;
    countedTo = Math.max(countedTo, last + 1);
  }
  return count;
}

/** qcow2: qemu-img check's cluster figures, then its refcount check (leaks, image end offset). */
async function checkQcow2(path: string, result: CheckResult): Promise<void> {
  const { figures: q, refcounts: r } = await qcow2Check(path);
  if (q) Object.assign(result, { allocatedClusters: q.allocated, fragmentedClusters: q.fragmented, compressedClusters: q.compressed });
  if (!r) return;
  Object.assign(result, { leaks: r.leaks, imageEndOffset: r.imageEndOffset, corruptions: r.corruptions });
  if (r.corruptions) {
    result.status = 'corrupt';
    result.error = new H2kError(`qcow2 ${path}: ${r.corruptions} cluster(s) referenced more often than their refcount says`, {
      code: 'E_QCOW2_BAD_REFCOUNT', file: path, offset: r.firstCorruptOffset, hint: 'the image is corrupt: writing to it may overwrite data; qemu-img check -r all repairs refcounts',
    });
  } else if (r.leaks) result.status = 'leaks';
}

export async function checkImage(req: CheckRequest): Promise<CheckResult> {
  const open = { format: req.format, allowExternalPaths: req.allowExternalPaths ?? false };
  const result: CheckResult = { format: req.format, bytesRead: 0, status: 'ok' };
  try {
    const addon = loadAddon();
    const probed = addon.detectFormat(req.path, { allowExternalPaths: open.allowExternalPaths });
    // -f naming another format than the content's is a wrong request, not a corrupt image
    // (qemu-img cannot open it either); a damaged header that no longer probes is checked as told.
    if (req.format && req.format !== 'raw' && formats().some((f) => f.name === req.format) && probed !== 'raw' && probed !== req.format)
      throw new H2kError(`-f ${req.format}: ${req.path} is ${probed}`, { code: 'E_FORMAT_MISMATCH', file: req.path, hint: `run h2k check without -f, or with -f ${probed}` });
    result.format ??= probed;
    const info = await addon.imageInfo(req.path, open);
    result.format = info.format;
    const map = await addon.imageMap(req.path, open);
    const unit = allocationUnit(info);
    if (unit !== undefined && info.format !== 'raw') {
      result.clusterSize = unit;
      result.totalClusters = Math.ceil(map.virtualSize / unit);
      result.allocatedClusters = clustersWithData(map, unit);
      if (info.format === 'vmdk' && info.subformat === 'streamOptimized') result.compressedClusters = result.allocatedClusters;
    }
    const read = await runHashJob('content', req.path, ['xxh3'], { ...open, signal: req.signal });
    result.bytesRead = read.bytesRead;
    if (info.format === 'qcow2') await checkQcow2(req.path, result);
  } catch (err) {
    result.error = toH2kError(err);
    result.status = statusFor(result.error.code);
  }
  return result;
}
