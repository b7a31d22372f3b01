// Fixtures and oracles for the conversion engine tests: seeded sparse raw sources and
// qemu-img / qemu-io wrappers. Everything is built at test time.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { nativeToolPath } from './native-tool.js';
import { seededBytes } from './vmdk-fixtures.js';

export { seededBytes };

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Compressible text with a seeded line number so no two clusters are identical. */
export function seededText(len: number, seed: number): Buffer {
  const lines: string[] = [];
  let total = 0;
  for (let i = 0; total < len; i++) {
    const line = `${seed}:${i} h2k engine test, the quick brown fox jumps over the lazy dog\n`;
    lines.push(line);
    total += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, len);
}

export interface Region {
  offset: number;
  bytes: Buffer;
}

/** A sparse raw file of `size` bytes holding `regions` (everything else is a hole). */
export function writeSparseRaw(path: string, size: number, regions: Region[]): string {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    for (const r of regions) writeSync(fd, r.bytes, 0, r.bytes.length, r.offset);
  } finally {
    closeSync(fd);
  }
  return path;
}

/**
 * Mixed source: text, random data, an explicit zero run (allocated zeros), a lone sector,
 * an unaligned run crossing 64 KiB and 2 MiB boundaries, and data in the partial last cluster.
 */
export function mixedRegions(size: number, seed = 11): Region[] {
  return [
    { offset: 0, bytes: seededText(1 * MiB + 3000, seed) },
    { offset: 3 * MiB, bytes: seededBytes(512 * KiB, seed + 1) },
    { offset: 5 * MiB, bytes: Buffer.alloc(2 * MiB) },
    { offset: 9 * MiB + 512, bytes: seededBytes(512, seed + 2) },
    { offset: 14 * MiB - 1000, bytes: seededText(300 * KiB, seed + 3) },
    { offset: size - 700, bytes: seededBytes(700, seed + 4) },
  ];
}

/** 24 MiB + 3 sectors: not a multiple of any cluster size under test. */
export const MIXED_SIZE = 24 * MiB + 3 * 512;

export function qemuImg(args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', maxBuffer: 64 * MiB });
}

export function run(cmd: string, args: string[]): { code: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB, timeout: 120_000 });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** qemu-img check --output=json: exit code and parsed report. */
export function qemuCheck(image: string): { code: number | null; report: Record<string, unknown> } {
  const r = spawnSync('qemu-img', ['check', '--output=json', '-f', 'qcow2', image], { encoding: 'utf8' });
  let report: Record<string, unknown> = {};
  try {
    report = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    report = { unparsable: r.stdout + r.stderr };
  }
  return { code: r.status, report };
}

export function qemuCompare(raw: string, image: string, format: string): { code: number | null; out: string } {
  return run('qemu-img', ['compare', '-f', 'raw', '-F', format, raw, image]);
}

export interface QemuInfo {
  'virtual-size': number;
  format: string;
  'format-specific'?: { data?: Record<string, unknown> };
}

export function qemuInfo(image: string): QemuInfo {
  return JSON.parse(qemuImg(['info', '--output=json', image])) as QemuInfo;
}

export interface MapRun {
  start: number;
  length: number;
  data: boolean;
  zero: boolean;
  offset?: number;
}

export function qemuMap(image: string, format: string): MapRun[] {
  return JSON.parse(qemuImg(['map', '--output=json', '-f', format, image])) as MapRun[];
}

/** formats.md §6 step 4: further writes, discards and allocations keep the image consistent. */
export function qemuIoMutate(image: string, virtualSize: number): { code: number | null; out: string } {
  // 1 MiB at 10 MiB (as in the doc) when the disk is big enough, else in its middle.
  const at = virtualSize >= 11 * MiB ? 10 * MiB : Math.floor(virtualSize / 2 / MiB) * MiB;
  const len = Math.min(MiB, virtualSize - at);
  return run('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x55 ${at} ${len}`, '-c', 'discard 0 64k', image]);
}

export interface ConvertOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
  errorCode?: string;
  fields: Record<string, string>;
}

/**
 * h2k-native convert <src> <out> [fmt comp threads clusterSize] [flags], optionally inside a
 * shell prefix (e.g. `ulimit -f`) to provoke failures, and with peak RSS via /usr/bin/time.
 */
export function nativeConvert(args: string[], shellPrefix = ''): ConvertOutcome {
  const tool = nativeToolPath();
  const r = shellPrefix
    ? spawnSync('bash', ['-c', `${shellPrefix}; exec "$0" "$@"`, tool, 'convert', ...args], {
        encoding: 'utf8',
        timeout: 300_000,
      })
    : spawnSync(tool, ['convert', ...args], { encoding: 'utf8', timeout: 300_000 });
  const fields: Record<string, string> = {};
  for (const line of (r.stdout ?? '').split('\n')) {
    const m = /^([a-z0-9_]+): (.*)$/.exec(line);
    if (m) fields[m[1]!] = m[2]!;
  }
  const errorCode = /error (E_[A-Z0-9_]+)/.exec(r.stderr ?? '')?.[1];
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', errorCode, fields };
}

/** Peak RSS in KiB of a conversion (GNU time -f %M). */
export function convertPeakRssKiB(args: string[]): { code: number | null; rssKiB: number; out: string } {
  const r = spawnSync('/usr/bin/time', ['-f', 'RSS=%M', nativeToolPath(), 'convert', ...args], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  const m = /RSS=(\d+)/.exec(r.stderr ?? '');
  return { code: r.status, rssKiB: m ? Number(m[1]) : NaN, out: `${r.stdout}${r.stderr}` };
}
