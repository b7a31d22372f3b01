// What is inside an image: OS, filesystems, boot configuration, network backends, VMware tools.
import { H2kError } from '../util/errors.js';
import type { GuestfishSession } from './guestfish-session.js';
import { GRUB_CONFIG_GLOBS, GRUB_CONFIGS } from './grub.js';
import type { InitramfsTool } from './initramfs.js';
import { btrfsSubvolMount } from './linux/btrfs.js';
import { detectFirmware } from './linux/firmware.js';
import { linuxProfile } from './linux/profile.js';
import type { GuestFilesystem, GuestInspection, GuestNetworkConfig } from './types.js';
import { inspectWindowsGuest } from './windows/index.js';
import { BITLOCKER_HINT, bitlockerPartitions } from './windows/volume-checks.js';

export const VMWARE_TOOLS_PATHS = [
  '/etc/vmware-tools',
  '/usr/lib/vmware-tools',
  '/usr/bin/vmtoolsd',
  '/usr/sbin/vmtoolsd',
  '/usr/bin/vmware-toolbox-cmd',
  '/usr/bin/vmware-uninstall-tools.pl',
  '/etc/init.d/vmware-tools',
  '/etc/systemd/system/vmtoolsd.service',
  '/etc/systemd/system/vmware-tools.service',
  '/etc/systemd/system/multi-user.target.wants/vmtoolsd.service',
  '/etc/systemd/system/multi-user.target.wants/vmware-tools.service',
  '/etc/systemd/system/multi-user.target.wants/open-vm-tools.service',
];
export const VMWARE_TOOLS_PACKAGES = ['open-vm-tools', 'open-vm-tools-desktop', 'vmware-tools'];

const INITRAMFS_MARKERS: Record<InitramfsTool, string[]> = {
  'initramfs-tools': ['/usr/sbin/update-initramfs', '/sbin/update-initramfs', '/etc/initramfs-tools'],
  dracut: ['/usr/bin/dracut', '/sbin/dracut', '/etc/dracut.conf'],
  mkinitcpio: ['/usr/bin/mkinitcpio', '/etc/mkinitcpio.conf'],
};
export const INITRAMFS_BINARIES: Record<InitramfsTool, string[]> = {
  'initramfs-tools': ['/usr/sbin/update-initramfs', '/sbin/update-initramfs'],
  dracut: ['/usr/bin/dracut', '/sbin/dracut'],
  mkinitcpio: ['/usr/bin/mkinitcpio'],
};

const NETWORK_GLOBS: [string, GuestNetworkConfig['backend']][] = [
  ['/etc/network/interfaces', 'ifupdown'],
  ['/etc/network/interfaces.d/*', 'ifupdown'],
  ['/etc/netplan/*.yaml', 'netplan'],
  ['/etc/sysconfig/network-scripts/ifcfg-*', 'ifcfg-rh'],
  ['/etc/sysconfig/network/ifcfg-*', 'wicked'], // SUSE: the file name is the interface
  ['/etc/NetworkManager/system-connections/*', 'networkmanager'],
  ['/etc/systemd/network/*.network', 'systemd-networkd'],
  ['/etc/systemd/network/*.link', 'systemd-networkd'],
  ['/etc/udev/rules.d/70-persistent-net.rules', 'udev-persistent-net'],
];

export async function firstFileOf(s: GuestfishSession, paths: string[]): Promise<string | null> {
  for (const p of paths) if (await s.exists(p)) return p;
  return null;
}

/** The OS roots libguestfs finds (none on a data disk or an encrypted root). */
async function osRoots(s: GuestfishSession): Promise<string[]> {
  return s.lines('inspect-os').catch((err: Error) => {
    // libguestfs reads a Windows guest's hives while inspecting: a corrupt one fails the whole call
    if (/Hivex/.test(err.message))
      throw new H2kError(`a Windows registry hive in the image cannot be read: ${err.message}`, {
        code: 'E_GUEST_WINDOWS_HIVE', file: s.image, hint: 'the SYSTEM or SOFTWARE hive is truncated or corrupt; repair the guest in its hypervisor (clean shutdown, chkdsk) and convert again',
      });
    throw err;
  });
}

function noOs(s: GuestfishSession): H2kError {
  return new H2kError('no operating system found in the image', {
    code: 'E_GUEST_NO_OS', file: s.image, hint: 'is this a data disk, or an encrypted/unsupported root filesystem?',
  });
}

/** The OS root libguestfs found; E_GUEST_NO_OS when there is none. */
export async function findRoot(s: GuestfishSession): Promise<string> {
  const roots = await osRoots(s);
  if (!roots.length) throw noOs(s);
  return roots[0]!;
}

/** Mounts the guest's filesystems the way its fstab does (shortest mount point first). */
export async function mountGuest(s: GuestfishSession, root: string, readonly: boolean, warnings: string[], filesystems: GuestFilesystem[] = []): Promise<Record<string, string>> {
  const mountpoints: Record<string, string> = {};
  for (const line of await s.lines('inspect-get-mountpoints', root)) {
    const i = line.indexOf(': ');
    if (i > 0) mountpoints[line.slice(0, i)] = line.slice(i + 2);
  }
  const btrfsDevices = filesystems.filter((f) => f.type === 'btrfs' && f.device.startsWith('/dev/')).map((f) => f.device);
  for (const mp of Object.keys(mountpoints).sort((a, b) => a.length - b.length)) {
    try {
      const vol = btrfsSubvolMount(mountpoints[mp]!, btrfsDevices);
      if (vol) {
        mountpoints[mp] = `btrfsvol:${vol.device}${vol.subvol}`; // the name that mounts, for the report
        await s.call('mount-options', `${readonly ? 'ro,' : ''}subvol=${vol.subvol}`, vol.device, mp);
      } else await s.call(readonly ? 'mount-ro' : 'mount', mountpoints[mp]!, mp);
    } catch (err) {
      if (mp === '/') throw err;
      warnings.push(`could not mount ${mountpoints[mp]} on ${mp}: ${(err as Error).message}`);
    }
  }
  return mountpoints;
}

export async function listFilesystems(s: GuestfishSession): Promise<GuestFilesystem[]> {
  const result: GuestFilesystem[] = [];
  for (const line of await s.lines('list-filesystems')) {
    const i = line.lastIndexOf(': ');
    if (i < 0) continue;
    const device = line.slice(0, i);
    const type = line.slice(i + 2);
    const tags: Record<string, string> = {};
    if (type !== 'unknown') {
      try {
        for (const l of await s.lines('blkid', device)) {
          const j = l.indexOf(': ');
          if (j > 0) tags[l.slice(0, j)] = l.slice(j + 2);
        }
      } catch {
        // no signature: keep the device without stable names
      }
    }
    result.push({ device, type, uuid: tags.UUID ?? null, label: tags.LABEL ?? null, partuuid: tags.PART_ENTRY_UUID ?? tags.PARTUUID ?? null });
  }
  return result;
}

async function optional(s: GuestfishSession, cmd: string, root: string): Promise<string | null> {
  try {
    const v = (await s.call(cmd, root)).trim();
    return v === '' || v === 'unknown' ? null : v;
  } catch {
    return null;
  }
}

/** The Linux-only parts of an inspection, for every other guest (fresh each time: callers may add to them). */
const notLinux = () => ({
  mountpoints: {}, fstab: null, bootloader: { kind: 'none' as const, configs: [], regenerateTool: null },
  firmware: { kind: 'bios' as const, esp: null, espMount: null, loaders: [], fallback: false, shim: false },
  kernels: [], initramfsTools: [], network: [], vmwareTools: { present: false, files: [], packages: [] }, profile: null,
});

/** No OS found: a BitLocker-locked Windows volume says so (libguestfs cannot look inside), anything else is E_GUEST_NO_OS. */
async function lockedInspection(s: GuestfishSession): Promise<GuestInspection> {
  const locked = await bitlockerPartitions(s);
  if (!locked.length) throw noOs(s);
  return {
    type: 'windows', distro: null, version: null, productName: null, hostname: null, arch: null, root: locked[0]!,
    filesystems: await listFilesystems(s), accel: s.accel, ...notLinux(), bitlocker: locked, fixable: false,
    notFixableReason: `the Windows volume ${locked.join(', ')} is BitLocker-encrypted (its boot sector carries the -FVE-FS- signature): nothing on it can be read or changed offline`,
    notFixableCode: 'E_GUEST_WINDOWS_BITLOCKER', notFixableHint: BITLOCKER_HINT,
  };
}

/** Inspects through an open session; mounts the guest (read-only unless `readonly` is false). */
export async function inspectSession(s: GuestfishSession, readonly: boolean, warnings: string[] = []): Promise<GuestInspection> {
  const roots = await osRoots(s);
  if (!roots.length) return lockedInspection(s);
  const root = roots[0]!;
  const type = (await s.call('inspect-get-type', root)).trim();
  const major = await optional(s, 'inspect-get-major-version', root);
  const minor = await optional(s, 'inspect-get-minor-version', root);
  const base = {
    type,
    distro: await optional(s, 'inspect-get-distro', root),
    version: major === null ? null : `${major}.${minor ?? '0'}`,
    productName: await optional(s, 'inspect-get-product-name', root),
    hostname: await optional(s, 'inspect-get-hostname', root),
    arch: await optional(s, 'inspect-get-arch', root),
    root,
    filesystems: await listFilesystems(s),
    accel: s.accel,
  };
  if (type === 'windows') return { ...base, ...notLinux(), ...(await inspectWindowsGuest(s, root, base)) };
  if (type !== 'linux')
    return { ...base, ...notLinux(), fixable: false, notFixableReason: `guest type ${type} is not supported by h2k fix` };

  const mountpoints = await mountGuest(s, root, readonly, warnings, base.filesystems);
  const configs: string[] = [];
  for (const c of GRUB_CONFIGS) if (await s.isFile(c)) configs.push(c);
  for (const g of GRUB_CONFIG_GLOBS) for (const c of await s.glob(g)) if (await s.isFile(c)) configs.push(c);
  const grub2 = configs.some((c) => c.endsWith('grub.cfg'));
  const legacy = configs.some((c) => c.endsWith('menu.lst') || c.endsWith('grub.conf'));
  const kernels: GuestInspection['kernels'] = [];
  for (const k of await s.glob('/boot/vmlinuz-*')) {
    const version = k.slice('/boot/vmlinuz-'.length);
    kernels.push({ version, kernel: k, initramfs: await firstFileOf(s, [`/boot/initrd.img-${version}`, `/boot/initramfs-${version}.img`, `/boot/initrd-${version}`]) });
  }
  const initramfsTools: InitramfsTool[] = [];
  for (const [tool, marks] of Object.entries(INITRAMFS_MARKERS) as [InitramfsTool, string[]][])
    if (await firstFileOf(s, marks)) initramfsTools.push(tool);
  const network: GuestNetworkConfig[] = [];
  for (const [pattern, backend] of NETWORK_GLOBS)
    for (const file of await s.glob(pattern)) if (await s.isFile(file)) network.push({ file, backend });
  const vmFiles: string[] = [];
  for (const p of VMWARE_TOOLS_PATHS) if ((await s.exists(p)) || (await s.isSymlink(p))) vmFiles.push(p); // service links may dangle
  const packages: string[] = [];
  for (const p of VMWARE_TOOLS_PACKAGES) if (await s.exists(`/var/lib/dpkg/info/${p}.list`)) packages.push(p);

  const linux: Omit<GuestInspection, 'profile'> = {
    ...base,
    mountpoints,
    fstab: (await s.isFile('/etc/fstab')) ? await s.readText('/etc/fstab') : null,
    bootloader: {
      kind: grub2 ? 'grub2' : legacy ? 'grub-legacy' : 'none',
      configs,
      regenerateTool: await firstFileOf(s, ['/usr/sbin/update-grub', '/usr/sbin/grub2-mkconfig', '/usr/sbin/grub-mkconfig']),
    },
    firmware: await detectFirmware(s, mountpoints, readonly),
    kernels,
    initramfsTools,
    network,
    vmwareTools: { present: vmFiles.length > 0 || packages.length > 0, files: vmFiles, packages },
    fixable: true,
    notFixableReason: null,
  };
  return { ...linux, profile: await linuxProfile(s, linux) };
}
