// Seeded fixtures built at test time with qemu-img (never committed binaries).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './cli.js';

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `h2k-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Seeded raw disk: text, random, explicit zeros and holes in 4 MiB stripes, data in the last sector. */
export function makeSeededRaw(path: string, mib: number, seed = 42): string {
  execFileSync(process.execPath, [join(repoRoot, 'scripts', 'make-seeded-raw.js'), path, String(mib), String(seed)]);
  return path;
}

export function qemuImg(args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

export function qemuImgStatus(args: string[]): { code: number; out: string } {
  try {
    return { code: 0, out: execFileSync('qemu-img', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { code: err.status ?? -1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

export function toVmdk(raw: string, out: string, subformat: string, extra: string[] = []): string {
  qemuImg(['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', [`subformat=${subformat}`, ...extra].join(','), raw, out]);
  return out;
}

export interface QcowCheck {
  'check-errors'?: number;
  leaks?: number;
  corruptions?: number;
  'image-end-offset'?: number;
}

/** qemu-img check must exit 0 with no errors, leaks or corruptions. */
export function expectCleanCheck(image: string, format = 'qcow2'): QcowCheck {
  const r = qemuImgStatus(['check', '--output=json', '-f', format, image]);
  if (r.code !== 0) throw new Error(`qemu-img check ${image} exited ${r.code}: ${r.out}`);
  const j = JSON.parse(r.out) as QcowCheck;
  if (j['check-errors'] || j.leaks || j.corruptions) throw new Error(`qemu-img check ${image}: ${r.out}`);
  return j;
}

/** qemu-img compare exit code (0 identical). */
export function compareImages(a: string, b: string, fa?: string, fb?: string): { code: number; out: string } {
  const args = ['compare'];
  if (fa) args.push('-f', fa);
  if (fb) args.push('-F', fb);
  return qemuImgStatus([...args, a, b]);
}

export function qemuInfo(image: string): { 'virtual-size': number; format: string; 'format-specific'?: { data?: Record<string, unknown> } } {
  return JSON.parse(qemuImg(['info', '--output=json', image]));
}
