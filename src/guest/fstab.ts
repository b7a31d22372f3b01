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

/** A field naming a device, made stable (or left as it is with `missing` as the warning). */
type Stabilize = (index: number, missing: string) => string;

/** Every line that is not blank or a comment through `rewrite`, with its fields; noop changes nothing. */
function rewriteTable(text: string, mode: FstabMode, resolve: StableNameResolver, rewrite: (line: string, fields: string[], stabilize: Stabilize) => string): RewriteResult {
  const warnings: string[] = [];
  if (mode === 'noop') return { text, warnings };
  const out = text.split('\n').map((line) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return line;
    const fields = trimmed.split(/\s+/);
    return rewrite(line, fields, (index, missing) => {
      const spec = fields[index];
      if (!spec || !wantsRewrite(spec, mode)) return line;
      const stable = resolve(spec);
      if (stable) return replaceField(line, index, stable);
      warnings.push(missing);
      return line;
    });
  });
  return { text: out.join('\n'), warnings };
}

export function rewriteFstab(text: string, mode: FstabMode, resolve: StableNameResolver): RewriteResult {
  return rewriteTable(text, mode, resolve, (line, fields, stabilize) => {
    const [spec = '', mountpoint = '', fstype = '', options = 'defaults'] = fields;
    if (spec.startsWith('.host:') || fstype === 'vmhgfs' || fstype === 'fuse.vmhgfs-fuse')
      return `# h2k: VMware shared folder, not available on KVM: ${line}`;
    if (CDROM_DEVICE.test(spec) || REMOVABLE_FS.has(fstype)) {
      const opts = options.split(',');
      if (opts.includes('noauto') || opts.includes('nofail') || fields.length < 4) return line;
      return replaceField(line, 3, `${options},nofail`); // a missing virtual CD must not stop the boot
    }
    return stabilize(0, `fstab: no filesystem in the image matches ${spec} (${mountpoint}); left unchanged`);
  });
}

/** crypttab: `name source keyfile options`; only the source device is renamed. */
export function rewriteCrypttab(text: string, mode: FstabMode, resolve: StableNameResolver): RewriteResult {
  return rewriteTable(text, mode, resolve, (_line, fields, stabilize) =>
    stabilize(1, `crypttab: no device in the image matches ${fields[1]}; left unchanged`));
}
