// VMDK fixtures built at test time: a seeded raw source, qemu-img conversions to every
// subformat qemu can write, byte patches for negative tests, and map normalisation so
// our block status can be diffed against `qemu-img map --output=json`.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';

/** Deterministic bytes (xorshift32): reproducible test data, not cryptography. */
export function seededBytes(len: number, seed: number): Buffer {
  const out = Buffer.alloc(Math.ceil(len / 4) * 4);
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  return out.subarray(0, len);
}

export interface SeededRegion {
  offset: number;
  bytes: Buffer;
}

export const MiB = 1024 * 1024;

/**
 * The regions of the standard source: compressible text, random data, an explicit zero
 * run, one lone sector in the second grain table, an unaligned run across grains, and
 * data in the last (partial) grain.
 */
export function standardRegions(size: number, seed = 7): SeededRegion[] {
  const text = Buffer.from('h2k vmdk reader test: the quick brown fox jumps over the lazy dog. '.repeat(16000)).subarray(0, MiB);
  return [
    { offset: 0, bytes: text },
    { offset: 10 * MiB, bytes: seededBytes(256 * 1024, seed) },
    { offset: 20 * MiB, bytes: Buffer.alloc(MiB) },
    { offset: 33 * MiB + 512, bytes: seededBytes(512, seed + 1) },
    { offset: 40 * MiB + 1000, bytes: seededBytes(200 * 1024, seed + 2) },
    { offset: size - 1024, bytes: seededBytes(1024, seed + 3) },
  ];
}

/** Writes a sparse raw file of `size` bytes holding `regions`. */
export function writeSparseRaw(path: string, size: number, regions: SeededRegion[]): string {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    for (const r of regions) writeSync(fd, r.bytes, 0, r.bytes.length, r.offset);
  } finally {
    closeSync(fd);
  }
  return path;
}

/** 50 MiB + 3 sectors: not a multiple of the 64 KiB grain, so the last grain is partial. */
export const STANDARD_SIZE = 50 * MiB + 3 * 512;

export function makeStandardRaw(path: string, size = STANDARD_SIZE, seed = 7): string {
  return writeSparseRaw(path, size, standardRegions(size, seed));
}

export function qemuImg(args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', maxBuffer: 64 * MiB });
}

export function qemuIo(image: string, commands: string[]): void {
  execFileSync('qemu-io', ['-f', 'vmdk', ...commands.flatMap((c) => ['-c', c]), image], { stdio: 'ignore' });
}

/** qemu-img convert raw -> vmdk with the given -o options (subformat=..., zeroed_grain=on). */
export function rawToVmdk(raw: string, out: string, options: string[]): string {
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', options.join(','), raw, out]);
  return out;
}

/** `qemu-img compare` exit status (0 = identical content). */
export function qemuCompare(a: string, fa: string, b: string, fb: string): { code: number | null; output: string } {
  const r = spawnSync('qemu-img', ['compare', '-f', fa, '-F', fb, a, b], { encoding: 'utf8' });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

export function qemuVirtualSize(image: string, format = 'vmdk'): number {
  return (JSON.parse(qemuImg(['info', '--output=json', '-f', format, image])) as { 'virtual-size': number })['virtual-size'];
}

/** A run of the guest address space: data (must be read) or not (zero/hole). */
export interface DataRun {
  start: number;
  length: number;
  data: boolean;
}

export function mergeDataRuns(runs: DataRun[]): DataRun[] {
  const out: DataRun[] = [];
  for (const r of runs) {
    const last = out[out.length - 1];
    if (last && last.data === r.data && last.start + last.length === r.start) last.length += r.length;
    else out.push({ ...r });
  }
  return out;
}

export function qemuDataRuns(image: string, format = 'vmdk'): DataRun[] {
  const map = JSON.parse(qemuImg(['map', '--output=json', '-f', format, image])) as {
    start: number;
    length: number;
    data: boolean;
  }[];
  return mergeDataRuns(map.map((m) => ({ start: m.start, length: m.length, data: m.data })));
}

/** Parses `h2k-native map` output ("offset length data|zero|hole" lines). */
export function nativeDataRuns(mapOutput: string): DataRun[] {
  const runs = mapOutput
    .trim()
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [start, length, kind] = l.split(' ');
      return { start: Number(start), length: Number(length), data: kind === 'data' };
    });
  return mergeDataRuns(runs);
}

/** Overwrites bytes of a file in place (negative tests). */
export function patchFile(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

export function readAt(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

export function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
}

/** Fields of the sparse header at the start of a KDMV file (byte offsets). */
export const SPARSE_HEADER = {
  version: 4,
  flags: 8,
  capacity: 12,
  grainSize: 20,
  numGTEsPerGT: 44,
  rgdOffset: 48,
  gdOffset: 56,
  overHead: 64,
} as const;

export function readSparseHeader(path: string): { gdOffset: bigint; rgdOffset: bigint; overHead: bigint; grainSize: bigint } {
  const h = readAt(path, 0, 512);
  return {
    gdOffset: h.readBigUInt64LE(SPARSE_HEADER.gdOffset),
    rgdOffset: h.readBigUInt64LE(SPARSE_HEADER.rgdOffset),
    overHead: h.readBigUInt64LE(SPARSE_HEADER.overHead),
    grainSize: h.readBigUInt64LE(SPARSE_HEADER.grainSize),
  };
}
