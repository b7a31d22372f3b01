// h2k fix on a Windows guest: virtio storage drivers registered as boot-start services, the rest
// staged for a first-boot pnputil install. Every edit is made on local copies of the hives and read
// back before anything is uploaded; files go in first, the hives last, so a refusal or a failed
// edit leaves the image as it was.
import { createHash } from 'node:crypto';
import { copyFile, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { H2kError } from '../../util/errors.js';
import { describe, type ChangeSet } from '../change-set.js';
import type { NormalizedFixOptions } from '../fix-options.js';
import type { GuestfishSession } from '../guestfish-session.js';
import { downloadHives, type WindowsInspection } from './inspect-windows.js';
import type { WindowsFirstboot } from './firstboot.js';
import { planWindowsFix, type PlannedFile } from './plan.js';
import { display, mergeEdits, readKey, readValue, type RegEdit, type RegistryChange } from './registry.js';
import { virtioWinArch, virtioWinDirs } from './versions.js';
import { offeredOsDirs, openVirtioWin, selectDrivers } from './virtio-win.js';

function refuse(message: string, code: string, file: string, hint: string): never {
  throw new H2kError(message, { code, file, hint });
}

/** Refusals that need no drivers: hibernation / fast startup, a dirty volume, no driver tree, unknown architecture. */
function checkFixable(w: WindowsInspection, image: string, virtioWin: string | undefined): { arch: string; osDirs: string[] } {
  if (w.hibernation.hiberfil === 'hibernated')
    refuse(`the Windows volume is hibernated${w.hibernation.hiberbootEnabled ? ' (fast startup is on: a normal shutdown hibernates the kernel)' : ''}; changing it offline would lose data or fail to boot`,
      'E_GUEST_WINDOWS_HIBERNATED', image, 'boot the VM in its hypervisor, turn fast startup off (powercfg /h off) and shut it down fully (shutdown /s /t 0), then convert again');
  if (w.ntfs.dirty)
    refuse('the NTFS volume is marked dirty: Windows did not shut down cleanly (or a disk check is pending), and changing it offline could corrupt it',
      'E_GUEST_WINDOWS_DIRTY', image, 'boot the VM in its hypervisor, run chkdsk C: /f if Windows asks, and shut it down cleanly (shutdown /s /t 0), then convert again');
  if (!virtioWin)
    refuse('a Windows guest needs the virtio-win drivers to boot on KVM, and none were given', 'E_GUEST_WINDOWS_VIRTIO_WIN', image,
      'pass --virtio-win <virtio-win.iso or its extracted directory> (manifest fix.virtio_win, daemon virtio_drivers_dir)');
  const arch = virtioWinArch(w.arch);
  const osDirs = virtioWinDirs(w);
  if (!arch || !osDirs.length)
    refuse(`no virtio driver exists for ${w.productName ?? 'this Windows'} (${w.major}.${w.minor}, ${w.arch ?? 'unknown architecture'})`, 'E_GUEST_WINDOWS_NO_DRIVER', image,
      'h2k handles Windows Vista/2008 to Windows 11/2025 on x86, x86_64 and ARM64');
  return { arch, osDirs };
}

async function sha256(file: string): Promise<string> {
  return createHash('sha256').update(await readFile(file)).digest('hex');
}

/** Registry edits merged into a copy of the hive, each read back: the list of real changes. */
async function editHive(local: string, hiveName: RegistryChange['hive'], edits: RegEdit[], dir: string): Promise<{ file: string; changes: RegistryChange[] }> {
  const edited = `${local}.h2k`;
  await copyFile(local, edited);
  if (edits.length) await mergeEdits(edited, `HKEY_LOCAL_MACHINE\\${hiveName}`, edits, join(dir, `${hiveName}.reg`));
  const changes: RegistryChange[] = [];
  for (const e of edits) {
    // binary data as hivexregedit spells it (hex(3):01,ff,00); other types as hivexget prints them
    const read = e.value.type === 'binary' ? async (h: string) => (await readKey(h, e.key))?.get(e.name) ?? null : (h: string) => readValue(h, e.key, e.name);
    const before = await read(local);
    const after = await read(edited);
    if (e.value.type !== 'binary' && after !== display(e.value))
      throw new H2kError(`${hiveName}\\${e.key}\\${e.name || '@'} reads back as ${JSON.stringify(after)} after the edit, not ${JSON.stringify(display(e.value))}`, { code: 'E_GUEST_WINDOWS_HIVE' });
    if (after !== null && before !== after) changes.push({ hive: hiveName, key: e.key, value: e.name || '@', before, after });
  }
  return { file: edited, changes };
}

export interface WindowsFixResult { registry: RegistryChange[]; firstboot: WindowsFirstboot }

export async function fixWindows(s: GuestfishSession, cs: ChangeSet, root: string, w: WindowsInspection, o: NormalizedFixOptions): Promise<WindowsFixResult> {
  const { arch, osDirs } = checkFixable(w, s.image, o.virtioWin);
  const source = await openVirtioWin(o.virtioWin!, osDirs, arch, o.signal, o.log);
  try {
    const drivers = await selectDrivers(source.tree, osDirs, arch);
    if (!drivers.some((d) => d.name === 'viostor'))
      refuse(`the virtio-win drivers in ${o.virtioWin} have no viostor for ${w.productName ?? 'this Windows'} (looked for ${osDirs.map((d) => `viostor/${d}/${arch}`).join(', ')})`,
        'E_GUEST_WINDOWS_NO_DRIVER', s.image, `the tree offers: ${(await offeredOsDirs(source.tree)).join(', ') || 'no viostor at all'}; use a virtio-win release that supports this version`);

    if (!cs.dryRun) {
      // ntfs-3g refuses to write a volume Windows did not close cleanly; ask it before mounting rw
      await s.call('umount-all');
      const probe = (await s.call('ntfs-3g-probe', 'true', root)).trim();
      if (probe !== '0')
        refuse(`the NTFS volume ${root} was not closed cleanly (ntfs-3g probe status ${probe}): Windows crashed, was powered off, or is hibernated`, 'E_GUEST_WINDOWS_DIRTY', s.image,
          'boot the VM in its hypervisor and shut it down cleanly (or run chkdsk), then convert again');
      await s.call('mount', root, '/');
    }

    const hives = await downloadHives(s, root);
    try {
      const cmdLine = (await readValue(hives.system, 'Setup', 'CmdLine')) ?? '';
      const setupType = Number(await readValue(hives.system, 'Setup', 'SetupType')) || 0;
      const devicePath = await readValue(hives.software, 'Microsoft\\Windows\\CurrentVersion', 'DevicePath');
      const plan = planWindowsFix(w, drivers, arch, { cmdLine, setupType, devicePath }, o.removeVmwareToolsOnWindows);
      const system = await editHive(hives.system, 'SYSTEM', plan.system, hives.dir);
      const software = await editHive(hives.software, 'SOFTWARE', plan.software, hives.dir);

      for (const f of plan.files) await placeFile(s, cs, f);
      if (!cs.dryRun) {
        if (system.changes.length) await s.call('upload', system.file, w.systemHive);
        if (software.changes.length) await s.call('upload', software.file, w.softwareHive);
        await s.call('sync');
      }
      if (w.ntfs.dirty === null) cs.warnings.push(`windows: the NTFS dirty bit could not be read (${w.ntfs.detail ?? 'not an NTFS boot sector'}); only ntfs-3g's probe checked the volume`);
      cs.warnings.push(`windows: ${drivers.map((d) => `${d.name} (${d.os}/${arch})`).join(', ')} from ${o.virtioWin}; storage bound through the ${plan.era}`);
      const tools = plan.firstboot.removeVmwareTools;
      if (tools) cs.warnings.push(`windows: VMware Tools ${tools.version ?? ''} is removed by the first-boot action (msiexec /x ${tools.productCode} /qn /norestart)`);
      else if (w.vmwareTools.present)
        cs.warnings.push(o.removeVmwareToolsOnWindows
          ? 'windows: VMware Tools is installed without an MSI product code in the Uninstall keys: it stays; remove it by hand after the first boot'
          : 'windows: VMware Tools is kept (remove_vmware_tools: false / --no-remove-vmware-tools)');
      plan.firstboot.staticIps.forEach((ip, i) =>
        cs.warnings.push(`network: static ${ip.addresses.map((a, j) => `${a}/${ip.masks[j]}`).join(', ')}${ip.gateways.length ? ` gateway ${ip.gateways.join(', ')}` : ''}${ip.dns.length ? ` dns ${ip.dns.join(', ')}` : ''} of adapter ${ip.interface} is re-applied by the first-boot action to virtio adapter ${i + 1}`));
      return { registry: [...system.changes, ...software.changes], firstboot: plan.firstboot };
    } finally {
      await rm(hives.dir, { recursive: true, force: true });
    }
  } finally {
    await source.cleanup();
  }
}

/** The guest path with the case NTFS really has for the parts that exist (libguestfs resolves only the last missing one). */
async function realCase(s: GuestfishSession, path: string): Promise<string> {
  try {
    return (await s.call('case-sensitive-path', path)).trim();
  } catch {
    const i = path.lastIndexOf('/');
    return i <= 0 ? path : `${await realCase(s, path.slice(0, i))}${path.slice(i)}`;
  }
}

/** Places one planned file unless the guest already has the same bytes; records the change. */
async function placeFile(s: GuestfishSession, cs: ChangeSet, f: PlannedFile): Promise<void> {
  const guest = await realCase(s, f.guest);
  const exists = await s.isFile(guest);
  if (f.text !== undefined) {
    const before = exists ? await s.readText(guest) : null;
    if (before === f.text) return;
    if (!cs.dryRun) await s.call('mkdir-p', guest.slice(0, guest.lastIndexOf('/')));
    await cs.writeText(guest, before, f.text, f.kind);
    return;
  }
  const local = f.local!;
  const hash = await sha256(local);
  if (exists && (await s.call('checksum', 'sha256', guest)).trim() === hash) return;
  const before = await describe(s, guest);
  if (!cs.dryRun) {
    await s.call('mkdir-p', guest.slice(0, guest.lastIndexOf('/')));
    await s.call('upload', local, guest);
  }
  cs.changes.push({ file: guest, before, after: `(${(await stat(local)).size} bytes, sha256 ${hash.slice(0, 16)}) from ${local}`, kind: f.kind });
}
