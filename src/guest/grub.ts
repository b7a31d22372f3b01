// GRUB configuration: root= and resume= on kernel command lines point at stable names.
import { deviceKind, type StableNameResolver } from './device-names.js';
import type { RewriteResult } from './fstab.js';

/** Where guests keep GRUB configuration, most common first. */
export const GRUB_CONFIGS = [
  '/boot/grub/grub.cfg',
  '/boot/grub2/grub.cfg',
  '/boot/grub/menu.lst',
  '/boot/grub/grub.conf',
  '/etc/default/grub',
  // BootLoaderSpec guests: RHEL 8's entries say `options $kernelopts`, the value lives in grubenv;
  // RHEL 9 / Fedora's kernel-install builds new kernels' entries from /etc/kernel/cmdline
  '/boot/grub2/grubenv',
  '/etc/kernel/cmdline',
];

/** Globs of per-kernel boot entries and ESP-side grub configs (RHEL-family, UEFI) kept right with the others. */
export const GRUB_CONFIG_GLOBS = ['/boot/loader/entries/*.conf', '/boot/efi/EFI/*/grub.cfg'];

export const GRUB_DEVICE_MAPS = ['/boot/grub/device.map', '/boot/grub2/device.map'];

const PARAM = /\b(root|resume)=(\/dev\/[^\s"']+)/g;

export function rewriteGrubConfig(text: string, resolve: StableNameResolver, file: string): RewriteResult {
  const warnings: string[] = [];
  const out = text.replace(PARAM, (whole, key: string, dev: string) => {
    if (deviceKind(dev) === 'other') return whole; // already UUID=, LABEL=, /dev/mapper/...
    const stable = resolve(dev);
    if (!stable) {
      warnings.push(`${file}: no filesystem in the image matches ${key}=${dev}; left unchanged`);
      return whole;
    }
    return `${key}=${stable}`;
  });
  return { text: out, warnings };
}

/**
 * /etc/default/grub with GRUB_DISABLE_LINUX_UUID=true makes update-grub write root=/dev/sdX again
 * (the name the disk has while we regenerate): that setting goes, so the regenerated grub.cfg uses UUIDs.
 */
export function allowLinuxUuid(text: string): string {
  return text.replace(/^([ \t]*GRUB_DISABLE_LINUX_UUID=["']?true["']?[ \t]*)$/gm, '# h2k: disabled so update-grub writes root=UUID= (device names change on KVM): $1');
}

/** Adds kernel parameters to GRUB_CMDLINE_LINUX (in /etc/default/grub) or to every linux line of a grub.cfg. */
export function addKernelParams(text: string, params: string[], file: string): string {
  const missing = (line: string) => params.filter((p) => !new RegExp(`(^|[\\s"'])${p.replace(/[.]/g, '\\.')}(?=$|[\\s"'])`).test(line));
  if (file === '/etc/default/grub') {
    // the file is sourced by a shell: when the key is assigned more than once, the last one counts
    const re = /^(GRUB_CMDLINE_LINUX=)(["']?)(.*?)\2[ \t]*$/gm;
    const last = [...text.matchAll(re)].pop()?.index;
    let found = false;
    const out = text.replace(re, (w, key: string, q: string, value: string, at: number) => {
      if (at !== last) return w;
      found = true;
      const add = missing(value);
      const next = [value, ...add].filter((s) => s !== '').join(' ');
      return `${key}${q || '"'}${next}${q || '"'}`;
    });
    return found ? out : `${text}${text.endsWith('\n') || text === '' ? '' : '\n'}GRUB_CMDLINE_LINUX="${params.join(' ')}"\n`;
  }
  // BootLoaderSpec entries (/boot/loader/entries/*.conf) carry the command line on their options
  // line, grubenv on its kernelopts= line, /etc/kernel/cmdline is the command line itself
  const line = /\/loader\/entries\//.test(file) ? /^(\s*options)(.*)$/gm
    : file.endsWith('/grubenv') ? /^(kernelopts=)(.*)$/gm
      : file === '/etc/kernel/cmdline' ? /^()([ \t]*\S[^\n]*)$/m
        : /^(\s*(?:linux|linuxefi|linux16|kernel)\s+\S+)(.*)$/gm;
  return text.replace(line, (_w, head: string, rest: string) => {
    const add = missing(rest);
    return add.length ? `${head}${[rest, ...add].filter((x) => x !== '').join(' ')}` : `${head}${rest}`;
  });
}

/** grubenv's size: GRUB reads it as one fixed block, its unused end filled with '#'. */
export const GRUBENV_BLOCK = 1024;

/**
 * An edited grubenv refilled to its block: the variables, then '#' up to the size the file had.
 * Null when the variables no longer fit (GRUB would refuse a longer file): the caller keeps the old one.
 */
export function refillGrubenv(edited: string, originalLength: number): string | null {
  const body = edited.slice(0, edited.lastIndexOf('\n') + 1);
  const size = Buffer.byteLength(body);
  return size > originalLength ? null : body + '#'.repeat(originalLength - size);
}
