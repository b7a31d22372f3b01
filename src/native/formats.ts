// The image formats h2k knows, as the native format table has them (native/src/formats/
// format_registry.cpp, exported by the addon's formats()). Every list of formats in TypeScript —
// CLI choices, config and manifest schemas, watch-folder extensions — derives from here, so a
// format added natively appears everywhere at once. Also the container operations the native side
// owns (binding/format_binding.cpp), so TypeScript parses no format itself.
import { toH2kError } from '../util/errors.js';
import { loadAddon } from './addon.js';

export interface NativeFormat {
  name: string;
  /** Lower case, with the dot: file names that promise the format. */
  extensions: string[];
  /** 'disk' (one disk image), 'container' (holds disk files), 'vm' (describes a VM). */
  roles: string[];
  /** Recognised by content (a name that promises it is checked against the bytes). */
  probed: boolean;
  readable: boolean;
  writable: boolean;
}

export interface TarMember {
  name: string;
  /** Of the member's data, in the archive. */
  offset: number;
  size: number;
}

export interface ManifestLine {
  name: string;
  algorithm: 'SHA1' | 'SHA256' | 'SHA512';
  /** Lower case. */
  hex: string;
}

/** What a .vmdk is, read from it alone (native/src/formats/vmdk/vmdk_role.hpp). */
export interface VmdkRole {
  kind: 'single' | 'descriptor' | 'extent' | 'headerless';
  /** descriptor: the file names of its extents as written (ZERO extents have none) */
  extents: string[];
}

interface FormatsAddon {
  formats(): NativeFormat[];
  contentFormat(path: string): string;
  formatNamedBy(path: string): string;
  ovaMembers(path: string): TarMember[];
  parseManifest(text: string, source: string): ManifestLine[];
  vmdkRole(fd: number, path: string): VmdkRole;
}

const native = (): FormatsAddon => loadAddon() as unknown as FormatsAddon;

/** A native function whose errors come back as H2kError (code, file, offset, hint kept). */
function checked<A extends unknown[], R>(fn: (addon: FormatsAddon, ...args: A) => R): (...args: A) => R {
  return (...args) => {
    try {
      return fn(native(), ...args);
    } catch (err) {
      throw toH2kError(err);
    }
  };
}

type NonEmpty = [string, ...string[]];

let table: NativeFormat[] | undefined;

export function formats(): NativeFormat[] {
  return (table ??= native().formats());
}

/** The format a file's bytes are ('raw' when no probe matches); its name is not checked. */
export const contentFormat = checked((a, path: string) => a.contentFormat(path));

/** Regular-file members of a tar (OVA) in archive order; E_OVA_BAD_TAR for a damaged or truncated one. */
export const ovaMembers = checked((a, path: string) => a.ovaMembers(path));

/** The lines of an OVF manifest (.mf); E_OVA_BAD_MANIFEST names `source` for an unusable line. */
export const parseManifest = checked((a, text: string, source: string) => a.parseManifest(text, source));

/** The part the .vmdk open as `fd` plays (descriptor, extent, whole image), read through `fd`
 *  (the caller's checked open); `path` names it in errors. */
export const vmdkRole = checked((a, fd: number, path: string) => a.vmdkRole(fd, path));

/** The format a file's name promises ('' = none: detect by content, e.g. .img/.raw), snapshot
 *  extensions (.avhdx) included. */
export const formatNamedBy = checked((a, path: string) => a.formatNamedBy(path));

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
