// Windows guests: inspection through the registry hives, virtio driver injection, first boot.
import { rm } from 'node:fs/promises';
import { H2kError } from '../../util/errors.js';
import type { GuestfishSession } from '../guestfish-session.js';
import { downloadHives, inspectWindows, type WindowsInspection } from './inspect-windows.js';

export { fixWindows } from './fix-windows.js';
export type { WindowsInspection } from './inspect-windows.js';

/** Mounts the Windows volume read-only (fixes remount it) and reads its hives. */
export async function inspectWindowsGuest(
  s: GuestfishSession, root: string, base: { productName: string | null; version: string | null; arch: string | null },
): Promise<{ mountpoints: Record<string, string>; windows?: WindowsInspection; fixable: boolean; notFixableReason: string | null; notFixableCode?: string }> {
  await s.call('mount-ro', root, '/');
  const mountpoints = { '/': root };
  const hive = await s.call('inspect-get-windows-system-hive', root).catch(() => '');
  if (!hive.trim() || !(await s.exists(hive.trim())))
    return { mountpoints, fixable: false, notFixableReason: 'no SYSTEM registry hive found: not a Windows system volume h2k can fix', notFixableCode: 'E_GUEST_WINDOWS_HIVE' };
  const hives = await downloadHives(s, root);
  try {
    const windows = await inspectWindows(s, root, hives, base);
    return { mountpoints, windows, fixable: true, notFixableReason: null };
  } catch (err) {
    // a damaged registry: inspect still answers, fix refuses with the code
    if (err instanceof H2kError && err.code.startsWith('E_GUEST_WINDOWS_')) return { mountpoints, fixable: false, notFixableReason: err.message, notFixableCode: err.code };
    throw err;
  } finally {
    await rm(hives.dir, { recursive: true, force: true });
  }
}
