// Virtio drivers in the guest's initramfs configuration, for each initramfs tool's own format.
export const VIRTIO_MODULES = ['virtio_pci', 'virtio_blk', 'virtio_scsi', 'virtio_net'];

export type InitramfsTool = 'initramfs-tools' | 'dracut' | 'mkinitcpio';

export const INITRAMFS_CONFIG: Record<InitramfsTool, string> = {
  'initramfs-tools': '/etc/initramfs-tools/modules',
  dracut: '/etc/dracut.conf.d/90-h2k-virtio.conf',
  mkinitcpio: '/etc/mkinitcpio.conf',
};

/** initramfs-tools: one module per line; appends the missing ones. */
export function addInitramfsToolsModules(text: string | null): string {
  const base = text ?? '# List of modules that you want to include in your initramfs.\n';
  const present = new Set(base.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((w): w is string => !!w && !w.startsWith('#')));
  const missing = VIRTIO_MODULES.filter((m) => !present.has(m));
  if (!missing.length) return base;
  const sep = base === '' || base.endsWith('\n') ? '' : '\n';
  return `${base}${sep}# added by h2k: boot from virtio disks on KVM\n${missing.join('\n')}\n`;
}

/** dracut: a drop-in file of our own. */
export function dracutDropIn(): string {
  return `# added by h2k: boot from virtio disks on KVM\nadd_drivers+=" ${VIRTIO_MODULES.join(' ')} "\n`;
}

/** mkinitcpio: MODULES=(...) gains the missing modules (the array is created when absent). */
export function addMkinitcpioModules(text: string): string {
  const re = /^MODULES=\((.*)\)[ \t]*$/m;
  const m = re.exec(text);
  if (!m) return `${text}${text.endsWith('\n') ? '' : '\n'}MODULES=(${VIRTIO_MODULES.join(' ')})\n`;
  const present = m[1]!.split(/\s+/).filter(Boolean).map((w) => w.replace(/^["']|["']$/g, ''));
  const missing = VIRTIO_MODULES.filter((x) => !present.includes(x));
  if (!missing.length) return text;
  return text.replace(re, `MODULES=(${[...m[1]!.trim().split(/\s+/).filter(Boolean), ...missing].join(' ')})`);
}

/** The guest command that rebuilds the initramfs of one kernel version (dracut: into `image` when given). */
export function regenerateCommand(tool: InitramfsTool, kernelVersion: string, initramfsExists: boolean, image?: string): string {
  if (!/^[\w.+~-]+$/.test(kernelVersion)) throw new Error(`unsafe kernel version string: ${kernelVersion}`);
  if (image !== undefined && !/^\/[\w.+~\/-]+$/.test(image)) throw new Error(`unsafe initramfs path: ${image}`);
  switch (tool) {
    case 'initramfs-tools':
      return `update-initramfs ${initramfsExists ? '-u' : '-c'} -k ${kernelVersion}`;
    case 'dracut':
      // dracut's default output name differs between distributions: name the file the guest boots
      return image ? `dracut -f ${image} ${kernelVersion}` : `dracut -f --kver ${kernelVersion}`;
    case 'mkinitcpio':
      return `mkinitcpio -k ${kernelVersion} -g /boot/initramfs-${kernelVersion}.img`;
  }
}

/** The program that lists an initramfs image's files, per tool (null: none we know). */
export function listCommand(tool: InitramfsTool, image: string): string | null {
  if (!/^\/[\w.+~\/-]+$/.test(image)) throw new Error(`unsafe initramfs path: ${image}`);
  return tool === 'initramfs-tools' ? `lsinitramfs ${image}` : tool === 'dracut' ? `lsinitrd ${image}` : `lsinitcpio ${image}`;
}

/** Virtio modules neither in the initramfs listing nor built into the kernel (modules.builtin). */
export function missingVirtioModules(listing: string, builtin: string): string[] {
  const names = (text: string) =>
    new Set([...text.matchAll(/([\w-]+)\.ko(?:\.(?:xz|zst|gz))?\b/g)].map((m) => m[1]!.replace(/-/g, '_')));
  const present = names(listing);
  const inKernel = names(builtin);
  return VIRTIO_MODULES.filter((m) => !present.has(m) && !inKernel.has(m));
}

/** File names of an initramfs listing (lsinitramfs: one path a line; lsinitrd/lsinitcpio: ls -l style). */
function listedNames(listing: string): Set<string> {
  const names = new Set<string>();
  for (const line of listing.split('\n')) {
    const path = line.replace(/ -> .*$/, '').trim().split(/\s+/).pop();
    if (path) names.add(path.slice(path.lastIndexOf('/') + 1));
  }
  return names;
}

/**
 * Guest files this fix changed of which the image may hold a copy made at build time (initramfs
 * hooks copy crypttab, udev rules, .link files... into it), matched by file name, so a false
 * match costs a rebuild, never a stale copy. Only /etc is configuration the tools copy.
 */
export function staleCopiesIn(listing: string, changedFiles: string[]): string[] {
  const names = listedNames(listing);
  return changedFiles.filter((f) => f.startsWith('/etc/') && names.has(f.slice(f.lastIndexOf('/') + 1)));
}
