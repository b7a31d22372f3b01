// fixImage: every fix in one appliance session on the converted output; each change recorded.
import { H2kError } from '../util/errors.js';
import { stableNameResolver } from './device-names.js';
import { rewriteCrypttab, rewriteFstab } from './fstab.js';
import { addKernelParams, allowLinuxUuid, GRUB_DEVICE_MAPS, refillGrubenv, rewriteGrubConfig } from './grub.js';
import { withGuestSession, type GuestfishSession } from './guestfish-session.js';
import { detectImageFormat } from './image-format.js';
import {
  addInitramfsToolsModules, addMkinitcpioModules, dracutDropIn, INITRAMFS_CONFIG, listCommand, missingVirtioModules, regenerateCommand, staleCopiesIn,
  type InitramfsTool,
} from './initramfs.js';
import { initramfsCompression, listInitramfs, MAX_INITRAMFS_PLAIN_BYTES } from './initramfs-listing.js';
import { dracutWithHostGzip, dracutWouldGzip } from './linux/dracut-host-gzip.js';
import { firstFileOf, INITRAMFS_BINARIES, inspectSession } from './inspect.js';
import { nicNameMap, nicNamesIn, renamedConfigFile, rewriteNetworkConfig } from './network.js';
import { normalizeFixOptions, type FixImageOptions } from './fix-options.js';
import type { FixResult, GuestInspection } from './types.js';
import { removeVmwareTools } from './vmware-tools.js';
import { ChangeSet } from './change-set.js';
import { fixWindows } from './windows/index.js';
import { ensureFallbackLoader } from './linux/firmware.js';
import { scheduleRelabel } from './linux/selinux.js';
import { keepCloudInitFromNetwork } from './linux/cloud-init.js';

async function readIfFile(s: GuestfishSession, file: string): Promise<string | null> {
  return (await s.isFile(file)) ? s.readText(file) : null;
}

export async function fixImage(path: string, options: FixImageOptions = {}): Promise<FixResult> {
  const o = normalizeFixOptions(options);
  if (!o.dryRun) {
    // fixes write in place: only into h2k's outputs, never into a VMware/Hyper-V/VirtualBox source
    const format = await detectImageFormat(path, o.signal);
    if (format !== 'qcow2' && format !== 'raw')
      throw new H2kError(`refusing to fix a ${format} image in place: fixes run on the converted output only`, {
        code: 'E_UNSUPPORTED', file: path, hint: `h2k convert it to qcow2/raw first, then fix the output (or use --dry-run to preview)`,
      });
  }
  return withGuestSession(path, { readonly: o.dryRun, signal: o.signal, log: o.log }, async (s) => {
    const cs = new ChangeSet(s, o.dryRun);
    const info = await inspectSession(s, o.dryRun, cs.warnings);
    if (info.type === 'windows' && info.windows) {
      const { registry, firstboot } = await fixWindows(s, cs, info.root, info.windows, o);
      return {
        changes: cs.changes, registry, firstboot, warnings: cs.warnings, failed: cs.failed, dryRun: o.dryRun, accel: s.accel,
        os: { type: info.type, distro: info.distro, version: info.version, root: info.root, firmware: info.firmware.kind },
      };
    }
    if (info.type === 'windows')
      throw new H2kError(`Windows guest (${info.productName ?? 'unknown version'}) cannot be fixed: ${info.notFixableReason}`, {
        code: info.notFixableCode ?? 'E_GUEST_WINDOWS_UNSUPPORTED', file: path, hint: info.notFixableHint ?? 'the disk itself was converted fine; repair the guest in its hypervisor and convert again',
      });
    if (!info.fixable)
      throw new H2kError(info.notFixableReason ?? 'guest not fixable', { code: 'E_GUEST_UNSUPPORTED', file: path });

    const resolve = stableNameResolver(info.filesystems, Math.max(1, (await s.lines('list-devices')).length));
    const nicNames = new Map<string, string>();

    if (o.fstab !== 'noop') {
      if (info.fstab !== null) {
        const r = rewriteFstab(info.fstab, o.fstab, resolve);
        cs.warnings.push(...r.warnings);
        await cs.writeText('/etc/fstab', info.fstab, r.text, 'fstab');
      }
      const crypttab = await readIfFile(s, '/etc/crypttab');
      if (crypttab !== null) {
        const r = rewriteCrypttab(crypttab, o.fstab, resolve);
        cs.warnings.push(...r.warnings);
        await cs.writeText('/etc/crypttab', crypttab, r.text, 'crypttab');
      }
    }

    if (o.network !== 'none') {
      const texts = new Map<string, string>();
      for (const cfg of info.network) texts.set(cfg.file, await s.readText(cfg.file));
      if (o.network === 'full') for (const [k, v] of nicNameMap(info.network.flatMap((c) => nicNamesIn(c, texts.get(c.file)!)))) nicNames.set(k, v);
      for (const cfg of info.network) {
        const before = texts.get(cfg.file)!;
        const after = rewriteNetworkConfig(cfg, before, o.network, nicNames);
        const moved = renamedConfigFile(cfg, nicNames);
        if (after === null) await cs.remove(cfg.file, before, 'network');
        else if (moved && !texts.has(moved)) {
          // wicked: the file name is the interface, so ifcfg-ens192 becomes ifcfg-eth0
          await cs.writeText(moved, null, after, 'network');
          await cs.remove(cfg.file, before, 'network');
        } else await cs.writeText(cfg.file, before, after, 'network');
      }
      await keepCloudInitFromNetwork(s, cs);
      if (nicNames.size) cs.warnings.push(`network: NICs renamed ${[...nicNames].map(([a, b]) => `${a}->${b}`).join(', ')}; net.ifnames=0 added to the kernel command line`);
    }

    if (o.grub || nicNames.size) await fixGrub(s, cs, info, o.grub, nicNames.size > 0, resolve);
    if (o.grub) await ensureFallbackLoader(s, cs, info.firmware);
    if (o.removeVmwareTools) await removeVmwareTools(s, cs, info);
    if (o.initramfs) await fixInitramfs(s, cs, info, o.regenerateInitramfs);
    if (o.grub && info.bootloader.regenerateTool) await regenerateGrub(s, cs, info);
    else if (o.grub && info.bootloader.kind !== 'none')
      cs.warnings.push('grub: no update-grub/grub2-mkconfig in the guest; grub.cfg was edited in place instead of regenerated');

    if (!o.dryRun) await scheduleRelabel(s, cs);
    if (!o.dryRun) await s.call('sync');
    return {
      changes: cs.changes, warnings: cs.warnings, failed: cs.failed, dryRun: o.dryRun, accel: s.accel,
      os: { type: info.type, distro: info.distro, version: info.version, root: info.root, firmware: info.firmware.kind },
    };
  });
}

async function fixGrub(
  s: GuestfishSession, cs: ChangeSet, info: GuestInspection, stabilize: boolean, ifnames: boolean, resolve: ReturnType<typeof stableNameResolver>,
): Promise<void> {
  for (const file of info.bootloader.configs) {
    const before = await s.readText(file);
    let after = before;
    if (stabilize) {
      const r = rewriteGrubConfig(after, resolve, file);
      cs.warnings.push(...r.warnings);
      after = r.text;
      if (file === '/etc/default/grub') after = allowLinuxUuid(after);
    }
    if (ifnames) after = addKernelParams(after, ['net.ifnames=0', 'biosdevname=0'], file);
    if (file.endsWith('/grubenv') && after !== before) {
      const refilled = refillGrubenv(after, Buffer.byteLength(before));
      if (refilled === null) {
        cs.fail(`grub: ${file} cannot hold the changed kernelopts in its ${Buffer.byteLength(before)} bytes; left unchanged`);
        continue;
      }
      after = refilled;
    }
    await cs.writeText(file, before, after, 'grub');
  }
  if (stabilize)
    for (const map of GRUB_DEVICE_MAPS) if (await s.isFile(map)) await cs.remove(map, await s.readText(map), 'grub');
}

async function regenerateGrub(s: GuestfishSession, cs: ChangeSet, info: GuestInspection): Promise<void> {
  const tool = info.bootloader.regenerateTool!;
  const cfg = info.bootloader.configs.find((c) => c.endsWith('grub.cfg')) ?? (tool.includes('grub2') ? '/boot/grub2/grub.cfg' : '/boot/grub/grub.cfg');
  const command = tool.endsWith('update-grub') ? 'update-grub' : `${tool} -o ${cfg}`;
  const before = await readIfFile(s, cfg);
  if (cs.dryRun) {
    cs.changes.push({ file: cfg, before, after: `(would be regenerated by: ${command})`, kind: 'grub' });
    return;
  }
  try {
    await s.sh(command);
  } catch (err) {
    cs.fail(`${command} failed in the guest: ${(err as Error).message}`);
    return;
  }
  const after = await readIfFile(s, cfg);
  if (after !== null && after !== before) cs.changes.push({ file: cfg, before, after, kind: 'grub' });
  // what the regenerated config boots must not name a kernel device any more
  const stale = after === null ? [] : [...after.matchAll(/^\s*linux\S*\s+\S+.*\broot=(\/dev\/(?:sd|hd|vd|xvd)[a-z]+\d*)/gm)].map((m) => m[1]!);
  if (stale.length) cs.fail(`grub: ${command} still wrote root=${stale[0]} into ${cfg} (check GRUB_DISABLE_LINUX_UUID and GRUB_DEVICE in /etc/default/grub)`);
}

/** What h2k knows of an initramfs image: its file names and how its main archive is compressed (null: not known). */
interface ImageListing { listing: string; compression: string | null }

/**
 * The image's file names: downloaded and read on the host (seconds), else the guest's own lister
 * run in the appliance (tens of seconds under TCG), e.g. for a compression the host cannot undo.
 */
async function listingOf(s: GuestfishSession, tool: InitramfsTool, image: string): Promise<ImageListing | null> {
  try {
    // the guest's file: sized before it is read into memory here (a hostile one may be huge)
    const size = Number((await s.call('filesize', image)).trim());
    if (!(size <= MAX_INITRAMFS_PLAIN_BYTES)) throw new Error(`${image}: ${size} bytes, too large to list on the host`);
    const data = await s.readFile(image);
    return { listing: (await listInitramfs(data)).join('\n'), compression: initramfsCompression(data) };
  } catch {
    const list = listCommand(tool, image);
    return list ? { listing: await s.sh(list), compression: null } : null;
  }
}

/** An initramfs image's listing and the virtio drivers neither in it nor built into the kernel; null when it cannot be listed. */
async function virtioInImage(s: GuestfishSession, tool: InitramfsTool, version: string, image: string): Promise<(ImageListing & { missing: string[] }) | null> {
  const found = await listingOf(s, tool, image);
  if (found === null) return null;
  const builtinFile = await firstFileOf(s, [`/lib/modules/${version}/modules.builtin`, `/usr/lib/modules/${version}/modules.builtin`]);
  const builtin = builtinFile ? await s.readText(builtinFile) : '';
  return { ...found, missing: missingVirtioModules(found.listing, builtin) };
}

/** Lists the regenerated initramfs in the guest: the virtio drivers must really be inside. */
async function verifyVirtioInInitramfs(s: GuestfishSession, cs: ChangeSet, tool: InitramfsTool, version: string, image: string): Promise<void> {
  let found;
  try {
    found = await virtioInImage(s, tool, version, image);
  } catch (err) {
    cs.warnings.push(`initramfs: could not list ${image} to verify it (${(err as Error).message})`);
    return;
  }
  if (found?.missing.length) cs.fail(`initramfs: ${image} was regenerated but lacks ${found.missing.join(', ')}`);
}

/** The image the guest boots now, listed; null when it cannot be (e.g. a read-only dry run where the lister needs a scratch file). */
async function currentImage(s: GuestfishSession, tool: InitramfsTool, version: string, image: string | null) {
  if (image === null) return null;
  try {
    return await virtioInImage(s, tool, version, image);
  } catch {
    return null;
  }
}

/**
 * True when the image already holds every virtio driver (or the kernel has them built in, as
 * Ubuntu's does) and no copy of a file this fix changed: rebuilding it would change nothing the
 * boot needs, and costs minutes under TCG (MODULES=most images).
 */
function imageAlreadyFit(cs: ChangeSet, found: (ImageListing & { missing: string[] }) | null): boolean {
  if (!found || found.missing.length) return false;
  return !staleCopiesIn(found.listing, cs.changes.filter((c) => c.kind !== 'initramfs').map((c) => c.file)).length;
}

async function fixInitramfs(s: GuestfishSession, cs: ChangeSet, info: GuestInspection, regenerate: boolean): Promise<void> {
  if (!info.initramfsTools.length) {
    cs.warnings.push('initramfs: no initramfs tool (initramfs-tools, dracut, mkinitcpio) found in the guest; nothing configured');
    return;
  }
  for (const tool of info.initramfsTools) {
    const file = INITRAMFS_CONFIG[tool];
    const before = await readIfFile(s, file);
    const after = tool === 'initramfs-tools' ? addInitramfsToolsModules(before) : tool === 'dracut' ? dracutDropIn() : addMkinitcpioModules(before ?? '');
    if (tool === 'dracut' && !cs.dryRun && !(await s.isDir('/etc/dracut.conf.d'))) await s.call('mkdir-p', '/etc/dracut.conf.d');
    await cs.writeText(file, before, after, 'initramfs');
    if (!regenerate) continue;
    if (!(await firstFileOf(s, INITRAMFS_BINARIES[tool as InitramfsTool]))) {
      cs.warnings.push(`initramfs: ${tool} is configured but its program is not installed in the guest; the initramfs was not regenerated`);
      continue;
    }
    for (const k of info.kernels) {
      // merged-/usr guests (Debian 12, Fedora...) have /lib -> usr/lib, which glob does not follow
      if (!(await firstFileOf(s, [`/lib/modules/${k.version}`, `/usr/lib/modules/${k.version}`]))) {
        cs.warnings.push(`initramfs: no /lib/modules/${k.version} in the guest; initramfs for ${k.version} not regenerated`);
        continue;
      }
      const current = await currentImage(s, tool, k.version, k.initramfs);
      if (imageAlreadyFit(cs, current)) {
        cs.warnings.push(`initramfs: ${k.initramfs} already has the virtio drivers and no copy of a changed file; not regenerated (${file} keeps them in later rebuilds)`);
        continue;
      }
      const target = k.initramfs ?? (tool === 'initramfs-tools' ? `/boot/initrd.img-${k.version}` : `/boot/initramfs-${k.version}.img`);
      const command = regenerateCommand(tool, k.version, k.initramfs !== null, target);
      // dracut's gzip is tens of seconds under TCG: the host compresses when that is what the guest's dracut does
      const hostGzip = tool === 'dracut' && !cs.dryRun && !(await s.isSymlink(target)) && (await dracutWouldGzip(s, current?.compression ?? null));
      const regenerated = hostGzip
        ? await cs.regenerate(target, `dracut -f --no-compress, gzip -9 on the host (as: ${command})`, 'initramfs', () => dracutWithHostGzip(s, cs, k.version, target, command))
        : await cs.regenerate(target, command, 'initramfs');
      if (regenerated && !cs.dryRun) await verifyVirtioInInitramfs(s, cs, tool, k.version, target);
    }
  }
}
