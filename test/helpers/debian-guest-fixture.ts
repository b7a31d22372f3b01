// A real Debian 12 guest (debootstrap + grub-pc in the MBR) in VMware style, built once by
// scripts/make-debian-guest.sh and cached outside the repo (H2K_FIXTURE_CACHE, default
// ~/.cache/h2k-fixtures); concurrent callers share one build (the script locks).
// Debian packages: debootstrap, e2fsprogs, fdisk, util-linux, dpkg-dev, libguestfs-tools, and the
// Debian mirror reachable for the first build.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './cli.js';

export const MAKE_DEBIAN_GUEST = join(repoRoot, 'scripts', 'make-debian-guest.sh');

/** A constant of the build script (ROOT_UUID, VMWARE_MAC...), read from it so the two never drift. */
export function fixtureConstant(name: string): string {
  const m = new RegExp(`^${name}=(\\S+)$`, 'm').exec(readFileSync(MAKE_DEBIAN_GUEST, 'utf8'));
  if (!m) throw new Error(`${name} not found in ${MAKE_DEBIAN_GUEST}`);
  return m[1]!;
}

export interface DebianGuestDisk {
  path: string;          // cached raw disk: never modify it, convert or copy first
  buildLog: string;      // the script's stderr (empty when the cache answered)
}

/** Path of the cached raw Debian guest disk, building it first when the cache has none (minutes). */
export function debianGuestDisk(timeoutMs = 40 * 60_000): Promise<DebianGuestDisk> {
  return new Promise((resolve, reject) => {
    execFile('bash', [MAKE_DEBIAN_GUEST], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${MAKE_DEBIAN_GUEST} failed: ${err.message}\n${stderr}`));
      const path = stdout.trim().split('\n').pop() ?? '';
      if (!path.endsWith('/disk.raw')) return reject(new Error(`${MAKE_DEBIAN_GUEST} printed no disk path: ${stdout}\n${stderr}`));
      resolve({ path, buildLog: stderr });
    });
  });
}

export const MAKE_FAMILY_GUEST = join(repoRoot, 'scripts', 'make-family-guest.sh');
export type GuestFamily = 'uefi' | 'rhel' | 'ubuntu' | 'suse';

/** A constant of make-family-guest.sh (ROOT_UUID, VMWARE_MAC...) or of one family's file. */
export function familyConstant(name: string, family?: GuestFamily): string {
  const file = family ? join(repoRoot, 'scripts', 'guest-families', `${family}.sh`) : MAKE_FAMILY_GUEST;
  const m = new RegExp(`^${name}=(\\S+)$`, 'm').exec(readFileSync(file, 'utf8'));
  if (!m) throw new Error(`${name} not found in ${file}`);
  return m[1]!;
}

/** Path of the cached raw disk of one family's guest (scripts/make-family-guest.sh), built when missing. */
export function familyGuestDisk(family: GuestFamily, timeoutMs = 40 * 60_000): Promise<DebianGuestDisk> {
  return new Promise((resolve, reject) => {
    execFile('bash', [MAKE_FAMILY_GUEST, family], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${MAKE_FAMILY_GUEST} ${family} failed: ${err.message}\n${stderr}`));
      const path = stdout.trim().split('\n').pop() ?? '';
      if (!path.endsWith('/disk.raw')) return reject(new Error(`${MAKE_FAMILY_GUEST} printed no disk path: ${stdout}\n${stderr}`));
      resolve({ path, buildLog: stderr });
    });
  });
}
