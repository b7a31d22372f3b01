// UEFI or BIOS: the EFI system partition, its loaders, and the removable-media fallback loader
// (EFI/BOOT/BOOTX64.EFI) a disk needs on its own: the NVRAM entry that pointed the firmware at the
// distribution's loader (EFI/debian/grubx64.efi, EFI/redhat/shimx64.efi...) stayed with the old VM.
import type { ChangeSet } from '../change-set.js';
import type { GuestfishSession } from '../guestfish-session.js';
import type { GuestFirmware } from '../types.js';

const ESP_GPT_TYPE = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
const ESP_MBR_ID = 0xef;
export const FALLBACK_LOADER = 'EFI/BOOT/BOOTX64.EFI';

/** The ESP's partition device (GPT type or MBR id 0xef), or null. */
async function findEsp(s: GuestfishSession): Promise<string | null> {
  for (const disk of await s.lines('list-devices')) {
    let table: string;
    try {
      table = (await s.call('part-get-parttype', disk)).trim();
    } catch {
      continue; // no partition table
    }
    for (const line of await s.lines('part-list', disk)) {
      const m = /^\s*part_num:\s*(\d+)/.exec(line);
      if (!m) continue;
      const n = m[1]!;
      const esp = table === 'gpt'
        ? (await s.call('part-get-gpt-type', disk, n)).trim().toUpperCase() === ESP_GPT_TYPE
        : Number.parseInt((await s.call('part-get-mbr-id', disk, n)).trim(), 10) === ESP_MBR_ID;
      if (esp) return `${disk}${n}`;
    }
  }
  return null;
}

/**
 * Firmware the guest was installed for: UEFI when an ESP carries EFI loaders. Mounts the ESP on
 * /boot/efi when the guest's fstab did not (a directory of that name must exist).
 */
export async function detectFirmware(s: GuestfishSession, mountpoints: Record<string, string>, readonly: boolean): Promise<GuestFirmware> {
  const bios: GuestFirmware = { kind: 'bios', esp: null, espMount: null, loaders: [], fallback: false, shim: false };
  const esp = await findEsp(s);
  if (!esp) return bios;
  let espMount = Object.keys(mountpoints).find((mp) => mountpoints[mp] === esp) ?? null;
  if (!espMount && (await s.isDir('/boot/efi'))) {
    try {
      await s.call(readonly ? 'mount-ro' : 'mount', esp, '/boot/efi');
      espMount = '/boot/efi';
    } catch {
      // an unformatted or damaged ESP: no loaders to report
    }
  }
  if (!espMount) return { ...bios, esp };
  let loaders: string[] = [];
  try {
    loaders = (await s.lines('find', espMount)).map((f) => f.replace(/^\//, '')).filter((f) => /^efi\/.+\.efi$/i.test(f));
  } catch {
    // no EFI directory
  }
  if (!loaders.length) return { ...bios, esp, espMount };
  return {
    kind: 'uefi', esp, espMount, loaders,
    fallback: loaders.some((l) => l.toUpperCase() === FALLBACK_LOADER),
    shim: loaders.some((l) => /\/shim\w*\.efi$/i.test(l)),
  };
}

/**
 * Makes EFI/BOOT/BOOTX64.EFI present when only a distribution's loader is there: the firmware of a
 * new VM (fresh NVRAM) boots nothing else. The distribution's directory is copied next to it
 * (shim loads grubx64.efi, and a signed grub reads grub.cfg, from the directory it started in).
 */
export async function ensureFallbackLoader(s: GuestfishSession, cs: ChangeSet, fw: GuestFirmware): Promise<void> {
  if (fw.kind !== 'uefi' || fw.fallback || !fw.espMount) return;
  const distro = (name: RegExp) => fw.loaders.find((l) => name.test(l) && !/^efi\/boot\//i.test(l));
  const source = distro(/^efi\/[^/]+\/shimx64\.efi$/i) ?? distro(/^efi\/[^/]+\/grubx64\.efi$/i);
  if (!source) {
    cs.fail(`uefi: no ${FALLBACK_LOADER} and no shimx64.efi or grubx64.efi on the ESP to make it from (found: ${fw.loaders.join(', ')})`);
    return;
  }
  const sourceDir = source.slice(0, source.lastIndexOf('/'));
  const bootDir = `${fw.espMount}/EFI/BOOT`;
  const siblings = (await s.lines('ls', `${fw.espMount}/${sourceDir}`)).filter((f) => !/\.csv$/i.test(f) && f !== source.slice(sourceDir.length + 1));
  if (!cs.dryRun && !(await s.isDir(bootDir))) await s.call('mkdir-p', bootDir);
  const copy = async (from: string, to: string) => {
    if (await s.exists(to)) return;
    const what = `${fw.espMount}/${from}`;
    if (!(await s.isFile(what))) return;
    if (!cs.dryRun) await s.call('cp', what, to);
    const size = (await s.call('filesize', what)).trim();
    cs.changes.push({ file: to, before: null, after: `(${cs.dryRun ? 'would be copied' : 'copied'} from ${what}, ${size} bytes)`, kind: 'bootloader' });
  };
  await copy(source, `${fw.espMount}/${FALLBACK_LOADER}`);
  for (const f of siblings) await copy(`${sourceDir}/${f}`, `${bootDir}/${f}`);
  cs.warnings.push(`uefi: ${FALLBACK_LOADER} made from ${source} (the NVRAM boot entry does not travel with the disk)`);
}
