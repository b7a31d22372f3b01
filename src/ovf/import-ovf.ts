// Loading an OVA/OVF (its VM and the disks to convert, controller order) and checking a loose
// OVF's .mf. Disks inside an OVA are read in place ("<ova>/<member>"); the native reader
// verifies the archive's .mf digests. For a loose .ovf, its .mf is verified: the descriptor
// first; each disk either first too, or (deferDiskDigests) from the conversion's own reads of it
// (`--hash` in the same pass, convertLooseDisk), so the disk is read once.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, rmSync, type ReadStream } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { convertImage } from '../convert/convert-image.js';
import type { ConvertOptions, ConvertRequest, ConvertResult } from '../convert/types.js';
import { loadAddon } from '../native/addon.js';
import { parseManifest } from '../native/formats.js';
import { H2kError } from '../util/errors.js';
import { isOva, listOvaMembers, readOvaMember } from './ova-members.js';
import type { OvfVm } from './ovf-types.js';
import { readOvfFile } from './ovf-xml-guard.js';
import { parseOvf } from './parse-ovf.js';

/** A file's digest as a loose OVF's .mf lists it; mfName (the manifest's file name) for the messages. */
export interface ManifestDigest {
  algo: 'sha1' | 'sha256' | 'sha512';
  hex: string;
  mfName: string;
}

export interface LoadedOvf {
  vm: OvfVm;
  /** Per disk (same order as vm.disks): the path the native reader opens. */
  diskSources: string[];
  /** A loose OVF (unless external paths are allowed): the descriptor's directory. Its hrefs were
   *  written by whoever made the appliance, so each disk is opened beneath it (sourceRoot). */
  diskRoot?: string;
  /** Loose OVF with a .mf and deferDiskDigests: the digest each disk must have (unchecked yet). */
  diskDigests?: ManifestDigest[];
}

/**
 * Reads a file named by the appliance: opened beneath `root` (the OVF's directory) through the
 * native path rule, or by its path when the user allowed external paths (root undefined).
 */
function readNamedFile(path: string, root: string | undefined): ReadStream {
  const opts = { highWaterMark: 1 << 20 };
  return root === undefined ? createReadStream(path, opts) : createReadStream('', { ...opts, fd: loadAddon().openBeneath(root, relative(root, path), path) });
}

async function fileDigest(path: string, algorithm: string, root?: string): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of readNamedFile(path, root)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** E_OVA_DIGEST_MISMATCH unless `actual` is the digest the .mf lists for `file`. */
function assertDigest(file: string, d: ManifestDigest, actual: string): void {
  if (actual === d.hex) return;
  throw new H2kError(`${d.algo.toUpperCase()} of ${basename(file)} is ${actual} but ${d.mfName} says ${d.hex}`, {
    code: 'E_OVA_DIGEST_MISMATCH',
    file,
    hint: 'the file was modified or damaged in transit; copy or export it again',
  });
}

/**
 * Rethrows `err`, a failure to read `file` — unless `file` fails its .mf digest, which is then the
 * error to report: a disk that does not parse may have been damaged in transit. Failures that say
 * nothing about the file (cancel, output side) are rethrown as they are, without reading it.
 */
export async function explainByDigest(err: unknown, file: string, digest: ManifestDigest | undefined, root?: string): Promise<never> {
  const code = (err as { code?: string }).code ?? '';
  if (digest && !loadAddon().codesNotAboutTheSource.includes(code))
    assertDigest(file, digest, await fileDigest(file, digest.algo, root).catch(() => digest.hex));
  throw err;
}

/**
 * Converts one disk of a loose OVF whose .mf digest is checked from the conversion's own reads of
 * the disk file (`convert --hash <algo>`), so the disk is read once. A conversion that fails for a
 * reason about the source is told apart from a disk damaged in transit by reading the digest then.
 * An output converted from a disk whose digest does not match is removed.
 */
export async function convertLooseDisk(request: ConvertRequest, options: ConvertOptions, digest: ManifestDigest): Promise<ConvertResult> {
  const asked = request.hashAlgorithms ?? [];
  const added = !asked.includes(digest.algo);
  const r = await convertImage({ ...request, hashAlgorithms: added ? [...asked, digest.algo] : asked }, options).catch((err: unknown) =>
    explainByDigest(err, request.source, digest, request.sourceRoot),
  );
  const actual = r.sourceHashes[digest.algo] ?? '';
  if (actual !== digest.hex) rmSync(r.output, { force: true }); // converted from a disk that is not the one exported
  assertDigest(request.source, digest, actual);
  if (added) {
    delete r.sourceHashes[digest.algo];
    delete r.contentHashes[digest.algo];
    if (asked.length === 0) r.sourceFiles = [];
    else for (const f of r.sourceFiles) delete f.hashes[digest.algo];
  }
  return r;
}

/** The manifest a loose .ovf is checked against: the same stem, `.mf` (vm.ovf -> vm.mf). */
export function looseManifestPath(ovfPath: string): string {
  return ovfPath.replace(/\.ovf$/i, '.mf');
}

/** Verifies a loose OVF's manifest (<stem>.mf beside it): the descriptor, and every disk unless
 *  `deferDisks` (then their expected digests are returned for the caller to check). */
async function verifyLooseManifest(ovfPath: string, hrefs: string[], deferDisks: boolean, root: string | undefined): Promise<ManifestDigest[] | undefined> {
  const mfPath = looseManifestPath(ovfPath);
  if (!existsSync(mfPath)) return undefined;
  // The .mf sits beside the .ovf, so it obeys the hrefs' rule (a link to /etc/shadow would
  // otherwise be echoed back as an "unreadable line").
  const text = (await buffer(readNamedFile(mfPath, root))).toString('utf8');
  const mfName = basename(mfPath);
  const expected = new Map(parseManifest(text, mfPath).map((l) => [l.name, { algo: l.algorithm.toLowerCase() as ManifestDigest['algo'], hex: l.hex, mfName }]));
  const diskDigests: ManifestDigest[] = [];
  for (const [i, name] of [basename(ovfPath), ...hrefs].entries()) {
    const e = expected.get(name);
    if (!e) throw new H2kError(`manifest ${mfPath} does not list ${name}`, { code: 'E_OVA_BAD_MANIFEST', file: mfPath, hint: 're-export the VM' });
    if (i > 0) diskDigests.push(e);
    const file = join(dirname(ovfPath), name);
    if (i === 0 || !deferDisks) assertDigest(file, e, await fileDigest(file, e.algo, root));
  }
  return deferDisks ? diskDigests : undefined;
}

export async function loadOvf(source: string, allowExternalPaths = false, opts: { deferDiskDigests?: boolean } = {}): Promise<LoadedOvf> {
  const path = resolve(source);
  if (isOva(path)) {
    const members = listOvaMembers(path);
    const ovf = members.find((m) => m.name.toLowerCase().endsWith('.ovf'));
    if (!ovf) throw new H2kError(`${path} holds no .ovf descriptor`, { code: 'E_OVF_INVALID', file: path });
    const vm = parseOvf(readOvaMember(path, ovf).toString('utf8'), `${path}/${ovf.name}`);
    const diskSources = vm.disks.map((d) => {
      // An OVA href names a member the appliance's author chose: the native path rule decides (E_PATH_ESCAPE).
      loadAddon().checkContainedName(d.file.href, `${path} (ovf:href)`);
      if (d.file.chunkSize) throw new H2kError(`disk ${d.file.href} is split into chunks (ovf:chunkSize), which is not supported`, { code: 'E_UNSUPPORTED', file: path });
      if (!members.some((m) => m.name === d.file.href))
        throw new H2kError(`${path} lacks the disk file '${d.file.href}' its OVF references`, { code: 'E_OVA_NO_MEMBER', file: path });
      return `${path}/${d.file.href}`;
    });
    return { vm, diskSources };
  }
  const vm = parseOvf(readOvfFile(path), path);
  const diskRoot = allowExternalPaths ? undefined : dirname(path);
  // Each href is opened once here, beneath the OVF's directory, so a link out, a FIFO or a device
  // is refused before any output exists and the error names the .ovf; the conversion opens it
  // beneath the same directory again (sourceRoot), so nothing swapped in between is followed.
  if (diskRoot) for (const d of vm.disks) closeSync(loadAddon().openBeneath(diskRoot, d.file.href, path));
  const diskDigests = await verifyLooseManifest(path, vm.disks.map((d) => d.file.href), opts.deferDiskDigests ?? false, diskRoot);
  return { vm, diskSources: vm.disks.map((d) => resolve(dirname(path), d.file.href)), ...(diskRoot ? { diskRoot } : {}), ...(diskDigests ? { diskDigests } : {}) };
}
