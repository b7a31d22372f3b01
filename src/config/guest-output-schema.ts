// hyper2kvm's guest-fix and VM-output keys in a daemon config, with hyper2kvm's types and
// defaults, typed on DaemonConfig so the job runner can apply them to each conversion; and the
// mapping of those keys onto h2k's own fix options (src/guest) and domain XML settings.
import { z } from 'zod';
import type { FixImageOptions } from '../guest/fix-options.js';
import type { NetworkLevel } from '../guest/types.js';

export const FSTAB_MODES = ['stabilize-all', 'bypath-only', 'noop'] as const;
/** hyper2kvm's network fixer levels (conservative: VMware specifics only, moderate: + MAC
 *  pinning removal, aggressive: + NIC renaming) and h2k's own (none, basic, full). */
export const NETWORK_FIX_LEVELS = ['conservative', 'moderate', 'aggressive', 'none', 'basic', 'full'] as const;

export const guestOutputShape = {
  // guest fixes (hyper2kvm: OfflineFSFix options, defaults from its argument parser)
  fstab_mode: z.enum(FSTAB_MODES).default('stabilize-all'),
  regen_initramfs: z.boolean().default(true),
  /** rewrite root=/resume= in the GRUB config (hyper2kvm: update_grub = not no_grub) */
  update_grub: z.boolean().default(true),
  /** hyper2kvm's command-line spelling of update_grub: false */
  no_grub: z.boolean().optional(),
  /** unset: Linux keeps the tools, Windows removes them on first boot; false keeps them on Windows too */
  remove_vmware_tools: z.boolean().optional(),
  /** false: leave the guest's network configuration alone */
  fix_network: z.boolean().default(true),
  network_fix_level: z.enum(NETWORK_FIX_LEVELS).default('moderate'),
  /** Windows virtio driver injection: the virtio-win ISO or directory (win_virtio: true asks for the fixes) */
  win_virtio: z.boolean().default(false),
  virtio_drivers_dir: z.string().min(1).optional(),
  // VM output
  /** write a libvirt domain XML beside the converted disk */
  emit_domain_xml: z.boolean().default(false),
  /** MiB (hyper2kvm's --memory default) */
  vm_memory: z.number().int().min(64).max(16 * 1024 * 1024).default(2048),
  vm_vcpus: z.number().int().min(1).max(4096).default(2),
  vm_uefi: z.boolean().default(false),
};

const guestOutputSchema = z.object(guestOutputShape);
type GuestOutputKeys = z.infer<typeof guestOutputSchema>;

/** Set by the config loader (not a config key): the top-level keys the config file or flags set,
 *  as opposed to schema defaults. Absent on configs built in code: nothing counts as set. */
export interface KeysSet {
  keys_set?: readonly string[];
}

/** The keys that tune hyper2kvm's guest-fix stage: setting any one asks for the stage, whose
 *  other settings then take hyper2kvm's defaults. */
export const GUEST_FIX_KEYS = ['fstab_mode', 'regen_initramfs', 'update_grub', 'no_grub', 'remove_vmware_tools', 'fix_network', 'network_fix_level'] as const;

/**
 * The keys by which a daemon config asks for guest fixes; [] when it asks for none. hyper2kvm
 * fixes every guest by default, but h2k's daemon converted plainly so far and many dropped disks
 * are data disks: fixes run only when the file sets a guest-fix key, win_virtio: true or
 * virtio_drivers_dir (win_virtio: false asks for nothing).
 */
export function guestFixRequest(c: GuestOutputKeys & KeysSet): string[] {
  const set = new Set(c.keys_set ?? []);
  const keys: string[] = GUEST_FIX_KEYS.filter((k) => set.has(k));
  if (c.win_virtio && set.has('win_virtio')) keys.push('win_virtio');
  if (c.virtio_drivers_dir !== undefined && set.has('virtio_drivers_dir')) keys.push('virtio_drivers_dir');
  return keys;
}

/** hyper2kvm's levels in h2k's terms: both of its milder levels remove MAC pinning (basic). */
export function networkLevel(c: Pick<GuestOutputKeys, 'fix_network' | 'network_fix_level'>): NetworkLevel {
  if (!c.fix_network) return 'none';
  switch (c.network_fix_level) {
    case 'aggressive':
    case 'full':
      return 'full';
    case 'none':
      return 'none';
    default:
      return 'basic';
  }
}

/** The guest fixes a daemon config asks for, as h2k fix options (fixImage). */
export function guestFixOptions(c: Pick<GuestOutputKeys, 'fstab_mode' | 'update_grub' | 'no_grub' | 'regen_initramfs' | 'fix_network' | 'network_fix_level' | 'remove_vmware_tools'> & { virtio_drivers_dir?: string }): FixImageOptions {
  return {
    fstab: c.fstab_mode,
    grub: c.update_grub && c.no_grub !== true,
    initramfs: c.regen_initramfs,
    network: networkLevel(c),
    removeVmwareTools: c.remove_vmware_tools,
    virtioWin: c.virtio_drivers_dir,
  };
}

export interface DomainXmlSettings {
  memoryMiB: number;
  vcpus: number;
  firmware: 'bios' | 'uefi';
}

/** The libvirt domain XML a daemon config asks for, or undefined when emit_domain_xml is off. */
export function domainXmlSettings(c: GuestOutputKeys): DomainXmlSettings | undefined {
  if (!c.emit_domain_xml) return undefined;
  return { memoryMiB: c.vm_memory, vcpus: c.vm_vcpus, firmware: c.vm_uefi ? 'uefi' : 'bios' };
}
