// SELinux guests: files h2k wrote carry no (or the wrong) security label, and an enforcing guest
// refuses them at boot; /.autorelabel makes the guest relabel its filesystems once on first boot.
import type { ChangeSet } from '../change-set.js';
import type { GuestfishSession } from '../guestfish-session.js';

/** SELINUX=enforcing|permissive in /etc/selinux/config (disabled or no file: no labels to keep). */
export function selinuxActive(config: string | null): boolean {
  return config !== null && /^\s*SELINUX\s*=\s*["']?(enforcing|permissive)\b/m.test(config);
}

/** Schedules a relabel when the fix changed files in an SELinux guest. */
export async function scheduleRelabel(s: GuestfishSession, cs: ChangeSet): Promise<void> {
  if (!cs.changes.length || !(await s.isFile('/etc/selinux/config'))) return;
  if (!selinuxActive(await s.readText('/etc/selinux/config')) || (await s.exists('/.autorelabel'))) return;
  await cs.writeText('/.autorelabel', null, '', 'selinux');
}
