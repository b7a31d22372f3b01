// The checks of a Windows guest's volumes that read their first bytes through the appliance:
// BitLocker-locked partitions (libguestfs finds no OS on them) and the system volume's dirty bit.
import type { GuestfishSession } from '../guestfish-session.js';
import { ntfsState, type NtfsState } from './ntfs-volume.js';

export const BITLOCKER_HINT = 'decrypt the volume in the guest before exporting it (manage-bde -off C:, or Control Panel > BitLocker > Turn off BitLocker, and wait until it reads "Fully Decrypted"); suspending BitLocker is not enough, the data stays encrypted';

export function ntfsStateOf(s: GuestfishSession, device: string): Promise<NtfsState> {
  return ntfsState((offset, size) => s.readBytes(device, offset, size));
}

/** Partitions whose boot sector carries BitLocker's -FVE-FS- signature. */
export async function bitlockerPartitions(s: GuestfishSession): Promise<string[]> {
  const locked: string[] = [];
  for (const part of await s.lines('list-partitions')) {
    const boot = await s.readBytes(part, 0, 512).catch(() => null);
    if (boot && (await ntfsState(async () => boot)).kind === 'bitlocker') locked.push(part);
  }
  return locked;
}
