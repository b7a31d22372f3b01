// The image formats h2k knows, as the native format table has them (native/src/formats/
// format_registry.cpp, exported by the addon's formats()). Every list of formats in TypeScript —
// CLI choices, config and manifest schemas, watch-folder extensions, the format a file name
// promises — derives from here, so a format added natively appears everywhere at once.
import { extname } from 'node:path';
import { loadAddon } from './addon.js';

export interface NativeFormat {
  name: string;
  label: string;
  /** Lower case, with the dot: file names that promise the format. */
  extensions: string[];
  /** The same format for snapshot files (Hyper-V .avhd/.avhdx): promised, never watch-folder jobs. */
  snapshotExtensions: string[];
  /** Other names accepted for the source format (vpc = vhd). */
  aliases: string[];
  /** 'disk' (one disk image), 'container' (holds disk files), 'vm' (describes a VM). */
  roles: string[];
  /** Recognised by content (a name that promises it is checked against the bytes). */
  probed: boolean;
  readable: boolean;
  writable: boolean;
  /** As output, takes a compression codec. */
  compressible: boolean;
}

type NonEmpty = [string, ...string[]];

let table: NativeFormat[] | undefined;

export function formats(): NativeFormat[] {
  table ??= (loadAddon().formats as () => NativeFormat[])();
  return table;
}

function names(pick: (f: NativeFormat) => boolean): NonEmpty {
  return formats().filter(pick).map((f) => f.name) as NonEmpty;
}

/** Formats h2k writes (-O, out_format, output_format), qcow2 first (the default). */
export function outputFormats(): NonEmpty {
  return names((f) => f.writable).sort((a, b) => Number(b === 'qcow2') - Number(a === 'qcow2')) as NonEmpty;
}

/** A manifest's source_type: every readable format and every VM description, plus 'ami' (an AWS
 * export: raw or VMDK, the content decides). */
export function sourceTypes(): NonEmpty {
  return [...names((f) => f.readable || f.roles.includes('vm')), 'ami'];
}

/** The extensions a watch folder picks up by default: every image and VM description, no snapshots. */
export function watchedExtensions(): string[] {
  return formats().flatMap((f) => f.extensions);
}

/** "qcow2, raw, vdi or vmdk" */
export function listed(items: readonly string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** The format a file's name promises ('' = none: detect by content, e.g. .img/.raw). */
export function formatNamedBy(path: string): string {
  const ext = extname(path).toLowerCase();
  if (!ext) return '';
  return formats().find((f) => f.probed && (f.extensions.includes(ext) || f.snapshotExtensions.includes(ext)))?.name ?? '';
}
