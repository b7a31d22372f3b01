// /etc/fstab and /etc/crypttab rewriting: unstable device names -> UUID=/PARTUUID=/LABEL=,
// VMware shared folders commented out, removable media made non-blocking.
import { deviceKind, type StableNameResolver } from './device-names.js';
import type { FstabMode } from './types.js';

export interface RewriteResult {
  text: string;
  warnings: string[];
}

const CDROM_DEVICE = /^\/dev\/(sr\d+|scd\d+|cdrom\d*|dvd\d*|fd\d+|floppy)$/;
const REMOVABLE_FS = new Set(['iso9660', 'udf']);

function wantsRewrite(spec: string, mode: FstabMode): boolean {
  if (mode === 'noop') return false;
  const kind = deviceKind(spec);
  return kind === 'by-path' || (mode === 'stabilize-all' && kind === 'kernel-name');
}

/** Replaces the first whitespace-separated field of a line, keeping the rest byte for byte. */
function replaceField(line: string, index: number, value: string): string {
  const parts = line.split(/(\s+)/);
  // parts alternates field, separator, field...; leading whitespace gives an empty first field
  let field = -1;
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] === '' || /^\s+$/.test(parts[i]!)) continue;
    if (++field === index) {
      parts[i] = value;
      break;
    }
  }
  return parts.join('');
}

export function rewriteFstab(text: string, mode: FstabMode, resolve: StableNameResolver): RewriteResult {
  const warnings: string[] = [];
  if (mode === 'noop') return { text, warnings };
  const out = text.split('\n').map((line) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return line;
    const fields = trimmed.split(/\s+/);
    const [spec = '', mountpoint = '', fstype = '', options = 'defaults'] = fields;
    if (spec.startsWith('.host:') || fstype === 'vmhgfs' || fstype === 'fuse.vmhgfs-fuse')
      return `# h2k: VMware shared folder, not available on KVM: ${line}`;
    if (CDROM_DEVICE.test(spec) || REMOVABLE_FS.has(fstype)) {
      const opts = options.split(',');
      if (opts.includes('noauto') || opts.includes('nofail') || fields.length < 4) return line;
      return replaceField(line, 3, `${options},nofail`); // a missing virtual CD must not stop the boot
    }
    if (!wantsRewrite(spec, mode)) return line;
    const stable = resolve(spec);
    if (!stable) {
      warnings.push(`fstab: no filesystem in the image matches ${spec} (${mountpoint}); left unchanged`);
      return line;
    }
    return replaceField(line, 0, stable);
  });
  return { text: out.join('\n'), warnings };
}

/** crypttab: `name source keyfile options`; only the source device is renamed. */
export function rewriteCrypttab(text: string, mode: FstabMode, resolve: StableNameResolver): RewriteResult {
  const warnings: string[] = [];
  if (mode === 'noop') return { text, warnings };
  const out = text.split('\n').map((line) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return line;
    const source = trimmed.split(/\s+/)[1];
    if (!source || !wantsRewrite(source, mode)) return line;
    const stable = resolve(source);
    if (!stable) {
      warnings.push(`crypttab: no device in the image matches ${source}; left unchanged`);
      return line;
    }
    return replaceField(line, 1, stable);
  });
  return { text: out.join('\n'), warnings };
}
