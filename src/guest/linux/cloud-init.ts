// cloud-init: on the new VM it would write its network config again from its own cached or
// fallback view (the VMware MAC, set-name), undoing the network fix. Its documented switch,
// /etc/cloud/cloud.cfg.d/99-disable-network-config.cfg, keeps the fixed config in charge.
import type { ChangeSet } from '../change-set.js';
import type { GuestfishSession } from '../guestfish-session.js';

export const CLOUD_INIT_NETWORK_OFF = '/etc/cloud/cloud.cfg.d/99-disable-network-config.cfg';

/** True when some cloud.cfg(.d) file already sets network: {config: disabled}. */
export function networkConfigDisabled(texts: string[]): boolean {
  return texts.some((t) => /^network:\s*\{\s*config:\s*["']?disabled["']?\s*\}/m.test(t) || /^network:\s*\n\s+config:\s*["']?disabled/m.test(t));
}

/** Keeps cloud-init from regenerating the network config the fix just rewrote. */
export async function keepCloudInitFromNetwork(s: GuestfishSession, cs: ChangeSet): Promise<void> {
  if (!(await s.isFile('/etc/cloud/cloud.cfg'))) return;
  const files = ['/etc/cloud/cloud.cfg', ...(await s.glob('/etc/cloud/cloud.cfg.d/*.cfg'))];
  const texts: string[] = [];
  for (const f of files) if (await s.isFile(f)) texts.push(await s.readText(f));
  if (networkConfigDisabled(texts)) return;
  if (!cs.dryRun && !(await s.isDir('/etc/cloud/cloud.cfg.d'))) await s.call('mkdir-p', '/etc/cloud/cloud.cfg.d');
  await cs.writeText(CLOUD_INIT_NETWORK_OFF, null, '# added by h2k: the network config was fixed for KVM; cloud-init must not regenerate it\nnetwork: {config: disabled}\n', 'network');
}
