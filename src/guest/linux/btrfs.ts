// btrfs roots (SUSE): subvolume mountables and the subvolume the root really is.
import type { GuestfishSession } from '../guestfish-session.js';

const BTRFSVOL = /^btrfsvol:(\/dev\/[^/]+)\/(.*)$/;

/**
 * How to mount a `btrfsvol:DEVICE/PATH` mountable (null: not one). libguestfs 1.48 builds these
 * from the appliance kernel's device names, which are not its own when the appliance's disks
 * enumerate the other way round (`btrfsvol:/dev/sdb2//@/var` for a filesystem it calls /dev/sda2):
 * the subvolume is mounted by option on the btrfs device libguestfs lists, matched by partition
 * number when the image holds more than one. fstab's `subvol=/@/var` gives the doubled slash.
 */
export function btrfsSubvolMount(spec: string, btrfsDevices: string[]): { device: string; subvol: string } | null {
  const m = BTRFSVOL.exec(spec);
  if (!m) return null;
  const [, named, path] = m as unknown as [string, string, string];
  const subvol = `/${path.replace(/^\/+/, '')}`;
  if (btrfsDevices.includes(named)) return { device: named, subvol };
  if (btrfsDevices.length === 1) return { device: btrfsDevices[0]!, subvol };
  const part = /\D(\d+)$/.exec(named)?.[1];
  const same = part === undefined ? [] : btrfsDevices.filter((d) => new RegExp(`\\D${part}$`).test(d));
  return same.length === 1 ? { device: same[0]!, subvol } : { device: named, subvol };
}

/** Subvolume id -> path from guestfish's btrfs-subvolume-list output. */
export function parseSubvolumeList(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let id: string | null = null;
  for (const line of text.split('\n')) {
    const i = /^\s*btrfssubvolume_id:\s*(\d+)\s*$/.exec(line);
    if (i) id = i[1]!;
    const p = /^\s*btrfssubvolume_path:\s*(.*?)\s*$/.exec(line);
    if (p && id !== null) out.set(id, p[1]!);
  }
  return out;
}

/**
 * The subvolume mounted as the guest's root (its path, e.g. @/.snapshots/1/snapshot), null when the
 * root is btrfs's top level. `root` is libguestfs's root mountable; a plain device mounts the
 * filesystem's default subvolume, which is how SUSE's snapper layout boots.
 */
export async function rootSubvolume(s: GuestfishSession, root: string): Promise<string | null> {
  const vol = BTRFSVOL.exec(root);
  if (vol) return vol[2]!.replace(/^\/+/, '');
  const id = (await s.call('btrfs-subvolume-get-default', '/')).trim();
  if (id === '5' || id === '0' || id === '') return null;
  return parseSubvolumeList(await s.call('btrfs-subvolume-list', '/')).get(id) ?? `subvolid=${id}`;
}
