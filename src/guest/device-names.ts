// Maps the device names a VMware guest used (/dev/sda1, /dev/disk/by-path/...) to stable
// names (UUID=, PARTUUID=, LABEL=) of the filesystems libguestfs sees in the image.
import type { GuestFilesystem } from './types.js';

/** Names that change when the disk moves from LSI/pvscsi/IDE to virtio. */
const KERNEL_NAME = /^\/dev\/(sd|hd|vd|xvd)([a-z]+)(\d*)$/;
const BY_PATH = /^\/dev\/disk\/by-path\/(.+?)(?:-part(\d+))?$/;

export type DeviceKind = 'kernel-name' | 'by-path' | 'other';

export function deviceKind(spec: string): DeviceKind {
  if (KERNEL_NAME.test(spec)) return 'kernel-name';
  if (BY_PATH.test(spec)) return 'by-path';
  return 'other';
}

export type StableNameResolver = (spec: string) => string | null;

/**
 * Builds a resolver over the image's filesystems. libguestfs names the image's disks /dev/sda,
 * /dev/sdb... in the order they were added, which is also the order the guest saw them.
 */
export function stableNameResolver(filesystems: GuestFilesystem[], diskCount: number): StableNameResolver {
  const byDevice = new Map(filesystems.map((f) => [f.device, f]));
  const stable = (device: string): string | null => {
    const fs = byDevice.get(device);
    if (!fs) return null;
    if (fs.uuid) return `UUID=${fs.uuid}`;
    if (fs.partuuid) return `PARTUUID=${fs.partuuid}`;
    if (fs.label) return `LABEL=${fs.label}`;
    return null;
  };
  return (spec) => {
    const k = KERNEL_NAME.exec(spec);
    if (k) return stable(`/dev/sd${k[2]}${k[3]}`);
    const p = BY_PATH.exec(spec);
    if (p) {
      const disk = byPathDiskLetter(p[1]!, diskCount);
      return disk ? stable(`/dev/sd${disk}${p[2] ?? ''}`) : null;
    }
    return null;
  };
}

/** by-path names carry the controller address; with one disk that is unambiguous, else use the SCSI target / ATA port. */
function byPathDiskLetter(path: string, diskCount: number): string | null {
  if (diskCount === 1) return 'a';
  const scsi = /-scsi-\d+:\d+:(\d+):\d+$/.exec(path) ?? /-ata-(\d+)(?:\.\d+)?$/.exec(path);
  if (!scsi) return null;
  const index = Number(scsi[1]) - (path.includes('-ata-') ? 1 : 0);
  return index >= 0 && index < diskCount && index < 26 ? String.fromCharCode(97 + index) : null;
}
