// Removing VMware tools: purge the packages when dpkg manages them, then delete what is left
// (tarball installs: config, binaries and the service links that would start them on boot).
import { describe, type ChangeSet } from './change-set.js';
import type { GuestfishSession } from './guestfish-session.js';
import type { GuestInspection } from './types.js';

export async function removeVmwareTools(s: GuestfishSession, cs: ChangeSet, info: GuestInspection): Promise<void> {
  if (!info.vmwareTools.present) return;
  if (info.vmwareTools.packages.length) {
    const command = `dpkg --purge ${info.vmwareTools.packages.join(' ')}`;
    if (cs.dryRun) cs.changes.push({ file: '/var/lib/dpkg/status', before: null, after: `(would run: ${command})`, kind: 'vmware-tools' });
    else {
      try {
        await s.sh(command);
        cs.changes.push({ file: '/var/lib/dpkg/status', before: null, after: `(ran: ${command})`, kind: 'vmware-tools' });
      } catch (err) {
        cs.fail(`${command} failed in the guest: ${(err as Error).message}`);
      }
    }
  }
  for (const file of info.vmwareTools.files) {
    if (!cs.dryRun && !(await s.exists(file)) && !(await s.isSymlink(file))) continue; // went with the package
    const dangling = !(await s.exists(file));
    const small = !dangling && (await s.isFile(file)) && Number((await s.call('filesize', file)).trim()) <= 65536;
    const before = dangling ? `(symlink to ${(await s.call('readlink', file)).trim()})` : small ? (await s.readFile(file)).toString('utf8') : await describe(s, file);
    await cs.remove(file, before, 'vmware-tools');
  }
}
