// Load stage: the source exists, is readable, and its content matches source_type. A disk image
// is one disk; an OVA/OVF is every disk its descriptor lists, in controller order (src/ovf plans
// them: the same parser and path rules as `h2k ovf`), each opened by the native reader in place.
import { closeSync, constants } from 'node:fs';
import { relative } from 'node:path';
import { access, stat } from 'node:fs/promises';
import { loadAddon } from '../native/addon.js';
import { formats } from '../native/formats.js';
import { capacityMismatch } from '../ovf/capacity-check.js';
import { assertLooseDiskContent } from '../ovf/disk-content.js';
import { explainByDigest, loadOvf, type ManifestDigest } from '../ovf/import-ovf.js';
import type { OvfDisk, OvfVm } from '../ovf/ovf-types.js';
import { H2kError, toH2kError } from '../util/errors.js';
import type { SourceType } from './manifest-schema.js';

/** An .ovf descriptor is a few KiB of XML; anything this big is something else. */
const MAX_OVF_BYTES = 16 * 1024 * 1024;

export interface SourceDisk {
  /** What the native reader opens: a file, or "<vm.ova>/<member>". */
  source: string;
  /** A loose OVF's disk: named by an href, so opened beneath this directory (the OVF's). */
  root?: string;
  /** Format name to hand the conversion engine. */
  engineFormat: string;
  detectedFormat: string;
  subformat: string;
  virtualSize: number;
  files: string[];
  /** OVF sources: where the disk sits in the VM (controller order). */
  ovf?: { href: string; controller: OvfDisk['controller']; unit: number };
  /** OVF sources: a declared ovf:capacity that is not the disk's own size (capacity-check.ts). */
  capacityWarning?: string;
  /** A loose OVF's disk whose .mf digest the convert stage checks from its own reads (deferDigests). */
  manifestDigest?: ManifestDigest;
}

export interface SourceProbe {
  detectedFormat: string;
  subformat: string;
  /** Sum over the disks. */
  virtualSize: number;
  files: string[];
  warnings: string[];
  /** One entry for a disk image; every disk in controller order for ova/ovf (disks[0] boots). */
  disks: SourceDisk[];
  /** ova/ovf: the VM the descriptor describes (name, CPUs, memory, NICs) for the libvirt XML. */
  ovfVm?: OvfVm;
}

/** A source type that describes a whole VM (ova, ovf: the format table's 'vm' role). */
export function isOvfSourceType(t: SourceType): boolean {
  return formats().some((f) => f.name === t && f.roles.includes('vm'));
}

async function assertReadableFile(path: string, field: string): Promise<number> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    const e = toH2kError(err);
    if (e.code === 'E_NOT_FOUND')
      throw new H2kError(`${field}: source not found: ${path}`, { code: 'E_NOT_FOUND', file: path, hint: 'relative source paths resolve against the manifest\'s directory' });
    throw e;
  }
  if (!st.isFile()) throw new H2kError(`${field}: source is not a regular file: ${path}`, { code: 'E_NOT_FOUND', file: path });
  try {
    await access(path, constants.R_OK);
  } catch {
    throw new H2kError(`${field}: source is not readable: ${path}`, { code: 'E_PERMISSION', file: path, hint: 'check the file permissions' });
  }
  return st.size;
}

/** Probe options: `deferDigests` when a convert stage follows, which checks a disk's .mf digest
 * (inside an OVA, or beside a loose OVF) from its own reads, so the load stage does not read the
 * disk once more. */
export interface ProbeOptions {
  deferDigests?: boolean;
  /** manifest_source_root: the source must lie beneath this directory (the native path rule). */
  sourceRoot?: string;
  /** `h2k ovf --allow-external-paths`: an OVF's hrefs and a VMDK's extents may point anywhere. */
  allowExternalPaths?: boolean;
}

/** With a source root, the source is opened once beneath it: E_PATH_ESCAPE for '..', links out, FIFOs, devices. */
function assertBeneathRoot(path: string, root: string | undefined, field: string): void {
  if (root === undefined) return;
  closeSync(loadAddon().openBeneath(root, relative(root, path), `${field} (manifest_source_root ${root})`));
}

async function probeDisk(source: string, format: string | undefined, opts: ProbeOptions = {}, root?: string): Promise<SourceDisk & { warnings: string[] }> {
  const info = await loadAddon().imageInfo(source, {
    ...(format ? { format } : {}),
    ...(root ? { sourceRoot: root } : {}),
    deferDigestChecks: opts.deferDigests ?? false,
    allowExternalPaths: opts.allowExternalPaths ?? false,
  });
  return {
    source,
    ...(root ? { root } : {}),
    engineFormat: info.format,
    detectedFormat: info.format,
    subformat: info.subformat,
    virtualSize: info.virtualSize,
    files: info.files,
    warnings: info.warnings,
  };
}

function mismatch(sourceType: string, path: string, detected: string): H2kError {
  const article = /^[aeiou]/.test(sourceType) ? 'an' : 'a';
  return new H2kError(`source_type is ${sourceType} but ${path} does not look like ${article} ${sourceType.toUpperCase()} (detected ${detected})`, {
    code: 'E_FORMAT_MISMATCH', file: path, hint: `set source_type to the real format (${detected}?)`,
  });
}

async function probeOvfSource(path: string, sourceType: 'ova' | 'ovf', detected: string, size: number, opts: ProbeOptions): Promise<SourceProbe> {
  if (sourceType === 'ova' && detected !== 'ova') throw mismatch('ova', path, detected);
  if (sourceType === 'ovf') {
    if (detected !== 'raw') throw mismatch('ovf', path, detected);
    if (size > MAX_OVF_BYTES)
      throw new H2kError(`source_type is ovf but ${path} is ${size} bytes, too big for an OVF descriptor`, {
        code: 'E_FORMAT_MISMATCH', file: path, hint: 'source_path names the .ovf descriptor, not a disk',
      });
  }
  // A loose OVF's disk digests are left to the convert stage when one follows (diskDigests).
  const { vm, diskSources, diskRoot, diskDigests } = await loadOvf(path, opts.allowExternalPaths ?? false, { deferDiskDigests: opts.deferDigests ?? false });
  if (vm.disks.length === 0) throw new H2kError(`${path} describes no disks`, { code: 'E_OVF_INVALID', file: path });
  const disks: SourceDisk[] = [];
  const warnings: string[] = [];
  for (let i = 0; i < diskSources.length; i++) {
    const digest = diskDigests?.[i];
    // A deferred digest still explains a disk that does not even open (damaged in transit).
    const d = vm.disks[i];
    const { warnings: w, ...disk } = await Promise.resolve()
      // A loose disk must be a disk by content, as `h2k ovf` requires (OVA members: the native reader).
      .then(() => (sourceType === 'ovf' ? assertLooseDiskContent(diskSources[i], d, path, diskRoot) : undefined))
      .then(() => probeDisk(diskSources[i], undefined, opts, diskRoot))
      .catch((err: unknown) => explainByDigest(err, diskSources[i], digest, diskRoot));
    const capacity = capacityMismatch(d, disk.virtualSize);
    if (capacity) w.push(capacity);
    disks.push({
      ...disk,
      ovf: { href: d.file.href, controller: d.controller, unit: d.unit },
      ...(capacity ? { capacityWarning: capacity } : {}),
      ...(digest ? { manifestDigest: digest } : {}),
    });
    warnings.push(...w.map((x) => `disk ${i + 1} (${d.file.href}): ${x}`));
  }
  return {
    detectedFormat: sourceType,
    subformat: `${disks.length} disk${disks.length === 1 ? '' : 's'}`,
    virtualSize: disks.reduce((a, d) => a + d.virtualSize, 0),
    files: [path, ...new Set(disks.flatMap((d) => d.files).filter((f) => f !== path))],
    warnings,
    disks,
    ovfVm: vm,
  };
}

export async function probeSource(path: string, sourceType: SourceType, field: string, opts: ProbeOptions = {}): Promise<SourceProbe> {
  assertBeneathRoot(path, opts.sourceRoot, field); // before anything else touches the path
  const size = await assertReadableFile(path, field);
  const root = opts.sourceRoot;
  let detected: string;
  try {
    detected = loadAddon().detectFormat(path, root ? { sourceRoot: root } : {});
  } catch (err) {
    // source_type raw is the manifest's explicit "-f raw": a name that promises another format does not matter.
    if (sourceType !== 'raw' || (err as { code?: string }).code !== 'E_FORMAT_MISMATCH') throw err;
    detected = 'raw';
  }
  if (isOvfSourceType(sourceType)) return probeOvfSource(path, sourceType as 'ova' | 'ovf', detected, size, opts);
  const warnings: string[] = [];
  let format: string | undefined;
  switch (sourceType) {
    case 'vmdk':
      if (detected !== 'vmdk') throw mismatch('vmdk', path, detected);
      format = 'vmdk';
      break;
    case 'raw':
      if (detected !== 'raw') warnings.push(`content looks like ${detected}; reading it as raw because source_type says so`);
      format = 'raw';
      break;
    case 'ami':
      format = undefined; // AMI exports are raw or VMDK disks: take what the content says.
      break;
    default:
      format = sourceType;
  }
  const { warnings: w, ...disk } = await probeDisk(path, format, {}, root);
  return {
    detectedFormat: disk.detectedFormat,
    subformat: disk.subformat,
    virtualSize: disk.virtualSize,
    files: disk.files,
    warnings: [...warnings, ...w],
    disks: [disk],
  };
}
