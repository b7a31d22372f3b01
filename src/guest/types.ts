// Shapes of what the guest module returns: inspection, fix results, boot test results.
import type { Accel } from './accel.js';
import type { WindowsInspection } from './windows/inspect-windows.js';
import type { RegistryChange } from './windows/registry.js';
import type { WindowsFirstboot } from './windows/firstboot.js';

export interface GuestFilesystem {
  device: string;
  type: string;
  uuid: string | null;
  label: string | null;
  partuuid: string | null;
}

export interface GuestNetworkConfig {
  file: string;
  backend: 'ifupdown' | 'netplan' | 'ifcfg-rh' | 'wicked' | 'networkmanager' | 'systemd-networkd' | 'udev-persistent-net';
}

/** UEFI when an EFI system partition carries loaders (paths relative to the ESP, as stored). */
export interface GuestFirmware {
  kind: 'uefi' | 'bios';
  esp: string | null;           // the ESP's partition device
  espMount: string | null;      // where it is mounted in the guest (/boot/efi)
  loaders: string[];            // EFI/debian/grubx64.efi, EFI/BOOT/BOOTX64.EFI...
  fallback: boolean;            // EFI/BOOT/BOOTX64.EFI present: bootable with a fresh NVRAM
  shim: boolean;
}

/** A Linux guest in the terms its fixes depend on (`h2k inspect` prints it). */
export interface LinuxProfile {
  family: 'rhel' | 'debian' | 'ubuntu' | 'suse' | 'arch' | 'photon' | 'other';
  initSystem: 'systemd' | 'sysvinit' | 'openrc' | 'busybox' | 'unknown';
  initramfsTool: 'initramfs-tools' | 'dracut' | 'mkinitcpio' | null;
  bootloader: 'grub2-bls' | 'grub2' | 'grub-legacy' | 'none';
  firmware: 'uefi' | 'bios';
  rootDevice: 'partition' | 'lvm' | 'btrfs-subvolume' | 'md' | 'whole-disk';
  rootSubvolume: string | null; // btrfs: the subvolume mounted as / (SUSE: @/.snapshots/1/snapshot, the default one)
  networkStack: GuestNetworkConfig['backend'][];
}

export interface GuestInspection {
  type: string;                 // linux, windows, ...
  distro: string | null;
  version: string | null;       // major.minor
  productName: string | null;
  hostname: string | null;
  arch: string | null;
  root: string;                 // root filesystem device
  mountpoints: Record<string, string>;
  filesystems: GuestFilesystem[];
  fstab: string | null;
  bootloader: { kind: 'grub2' | 'grub-legacy' | 'none'; configs: string[]; regenerateTool: string | null };
  firmware: GuestFirmware;
  kernels: { version: string; kernel: string; initramfs: string | null }[];
  initramfsTools: ('initramfs-tools' | 'dracut' | 'mkinitcpio')[];
  network: GuestNetworkConfig[];
  vmwareTools: { present: boolean; files: string[]; packages: string[] };
  profile: LinuxProfile | null;  // null: not Linux
  fixable: boolean;
  notFixableReason: string | null;
  accel: Accel;
  notFixableCode?: string;      // the error code fix refuses with (Windows guests)
  notFixableHint?: string;      // what the user can do about it, when there is something specific
  bitlocker?: string[];         // partitions locked by BitLocker (a Windows guest with no readable system volume)
  windows?: WindowsInspection;  // Windows guests only
}

export type FstabMode = 'stabilize-all' | 'bypath-only' | 'noop';
export type NetworkLevel = 'full' | 'basic' | 'none';

export interface GuestChange {
  file: string;
  before: string | null;        // null: the file did not exist
  after: string | null;         // null: the file was removed
  kind: 'fstab' | 'crypttab' | 'grub' | 'bootloader' | 'initramfs' | 'network' | 'vmware-tools' | 'selinux' | 'windows-driver' | 'windows-firstboot';
}

export interface FixResult {
  changes: GuestChange[];
  registry?: RegistryChange[];  // Windows guests: hive, key, value, before, after
  firstboot?: WindowsFirstboot; // Windows guests: what the first-boot action installs, removes, re-applies
  warnings: string[];
  failed: string[];             // requested fixes that could not be applied (also in warnings)
  os: { type: string; distro: string | null; version: string | null; root: string; firmware: 'bios' | 'uefi' };
  dryRun: boolean;
  accel: Accel;
}

export interface BootTestResult {
  passed: boolean;
  marker: string | null;
  seconds: number;
  consoleLog: string;
  accel: Accel;
  reason: string;
  mode: 'bootloader' | 'direct-kernel' | 'windows';   // through the guest's own bootloader, or -kernel/-initrd; Windows: its disk, first-boot marker on COM1
  devices?: string[];           // Windows: vendor:device of qemu's PCI devices (QMP query-pci)
  firmware: 'bios' | 'uefi';    // SeaBIOS, or OVMF with a fresh copy of its NVRAM
}
