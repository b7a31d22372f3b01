// What kind of Linux a guest is, in the terms its fixes depend on: family, init system, initramfs
// tool, bootloader flavour, firmware, how the root filesystem is held, and the network stack.
import type { GuestfishSession } from '../guestfish-session.js';
import type { GuestInspection, LinuxProfile } from '../types.js';
import { rootSubvolume } from './btrfs.js';

const FAMILIES: [RegExp, LinuxProfile['family']][] = [
  [/^(rhel|redhat-based|centos|rocky|alma(linux)?|oraclelinux|ol|fedora|scientificlinux|circle|eurolinux)$/, 'rhel'],
  [/^(ubuntu|linuxmint|pop)$/, 'ubuntu'],
  [/^(debian|kalilinux|devuan)$/, 'debian'],
  [/^(sles|opensuse|opensuse-leap|opensuse-tumbleweed|suse-based|sled)$/, 'suse'],
  [/^(archlinux|arch|manjaro)$/, 'arch'],
  [/^photon$/, 'photon'],
];

function familyOf(ids: string[]): LinuxProfile['family'] {
  for (const id of ids) for (const [re, family] of FAMILIES) if (re.test(id)) return family;
  return 'other';
}

/** ID and ID_LIKE of /etc/os-release, most specific first. */
function osReleaseIds(text: string | null): string[] {
  if (!text) return [];
  const field = (k: string) => new RegExp(`^${k}=["']?([^"'\\n]*)`, 'm').exec(text)?.[1] ?? '';
  return [field('ID'), ...field('ID_LIKE').split(/\s+/)].filter(Boolean);
}

async function initSystem(s: GuestfishSession): Promise<LinuxProfile['initSystem']> {
  if (await s.isSymlink('/sbin/init')) {
    const target = (await s.call('readlink', '/sbin/init')).trim();
    if (target.includes('systemd')) return 'systemd';
    if (target.includes('openrc')) return 'openrc';
    if (target.includes('busybox')) return 'busybox';
  }
  for (const [p, kind] of [['/usr/lib/systemd/systemd', 'systemd'], ['/lib/systemd/systemd', 'systemd'], ['/sbin/openrc', 'openrc']] as const)
    if (await s.exists(p)) return kind;
  return (await s.exists('/sbin/init')) ? 'sysvinit' : 'unknown';
}

async function rootDevice(s: GuestfishSession, root: string, subvolume: string | null): Promise<LinuxProfile['rootDevice']> {
  if (subvolume !== null) return 'btrfs-subvolume';
  if (/^\/dev\/md/.test(root)) return 'md';
  try {
    if ((await s.call('is-lv', root)).trim() === 'true') return 'lvm';
  } catch {
    // not a device libguestfs knows as an LV
  }
  return /\d$/.test(root) ? 'partition' : 'whole-disk';
}

export async function linuxProfile(s: GuestfishSession, info: Omit<GuestInspection, 'profile'>): Promise<LinuxProfile> {
  const osRelease = (await s.isFile('/etc/os-release')) ? await s.readText('/etc/os-release') : null;
  const bls = info.bootloader.configs.some((c) => c.startsWith('/boot/loader/entries/'));
  const rootFs = info.filesystems.find((f) => f.device === info.root)?.type;
  const subvolume = info.root.startsWith('btrfsvol:') || rootFs === 'btrfs' ? await rootSubvolume(s, info.root) : null;
  return {
    family: familyOf([info.distro ?? '', ...osReleaseIds(osRelease)]),
    initSystem: await initSystem(s),
    initramfsTool: info.initramfsTools[0] ?? null,
    bootloader: info.bootloader.kind === 'grub2' && bls ? 'grub2-bls' : info.bootloader.kind,
    firmware: info.firmware.kind,
    rootDevice: await rootDevice(s, info.root, subvolume),
    rootSubvolume: subvolume,
    networkStack: [...new Set(info.network.map((n) => n.backend).filter((b) => b !== 'udev-persistent-net'))],
  };
}
